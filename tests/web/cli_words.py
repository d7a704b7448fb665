"""What command-line syntax looks like in a web page: the web says things in its own
words (issue 17), never "run `openchargeback ...`", a ``--flag`` or a backtick."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# a command (the program's name then a lowercase word), a long option, a backtick
CLI = re.compile(r"openchargeback [a-z][a-z-]+|(?<![\w-])--[a-z][a-z-]+|`")


class _Text(HTMLParser):
    """The text a reader sees, and the values of attributes shown to people."""

    SKIP = {"script", "style"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        for name, value in attrs:
            if name in ("title", "placeholder", "aria-label", "alt", "hx-confirm") and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def cli_syntax(html: str) -> list[str]:
    """Each piece of command-line syntax in the page's visible text, with its context."""
    parser = _Text()
    parser.feed(html)
    text = " ".join(parser.parts)
    return [text[max(0, m.start() - 60) : m.end() + 60] for m in CLI.finditer(text)]
