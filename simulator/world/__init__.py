"""The world the agencies police.

The territory, its residents, where they are and what they call for, and how
crews travel over it.
"""
