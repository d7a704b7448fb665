"""services.registry"""
