"""Statement rendering loads only data: URLs and the package's own assets; file:// and
http:// are refused (issue 17, item 8)."""

from __future__ import annotations

import http.server
import io
import threading
from pathlib import Path

from openchargeback.rendering import fetching
from openchargeback.rendering.statements import html_to_pdf

LEAK = "LEAKEDSECRETTEXT"


def test_only_data_urls_and_package_files_are_allowed(tmp_path):
    own = fetching.PACKAGE / "rendering" / "templates"
    assert fetching.allowed("data:image/png;base64,iVBORw0KGgo=")
    assert fetching.allowed(next(own.iterdir()).as_uri())
    for url in (
        "file:///etc/passwd",
        (tmp_path / "x.css").as_uri(),
        own.as_uri() + "/../../../../../../etc/passwd",
        "file://otherhost/share/x.css",
        "http://127.0.0.1:1/x.css",
        "https://example.org/logo.png",
        "ftp://example.org/x",
    ):
        assert not fetching.allowed(url), url


def test_a_template_cannot_read_files_or_reach_the_network(tmp_path):
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b"body { color: red }"
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = tmp_path / "secret.svg"
    secret.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40">'
        f'<text x="0" y="20">{LEAK}</text></svg>'
    )
    port = server.server_address[1]
    html = f"""<html><head><link rel="stylesheet" href="http://127.0.0.1:{port}/site.css"></head>
      <body><p>Statement</p>
      <img src="{secret.as_uri()}"><img src="http://127.0.0.1:{port}/logo.png">
      <img src="data:image/svg+xml;utf8,&lt;svg xmlns='http://www.w3.org/2000/svg' width='4' height='4'/&gt;">
      </body></html>"""
    try:
        pdf = html_to_pdf(html)
    finally:
        server.shutdown()
    from pypdf import PdfReader

    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Statement" in text
    assert LEAK not in text and hits == []
    assert Path(secret).exists()
