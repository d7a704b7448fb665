"""services.jobs"""
