"""services.ingest"""
