"""services.statements"""
