"""services.journal"""
