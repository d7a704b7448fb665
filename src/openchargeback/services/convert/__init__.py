"""services.convert"""
