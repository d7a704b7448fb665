"""services.review"""
