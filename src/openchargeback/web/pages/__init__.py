"""web.pages"""
