"""The control room: which crew answers which incident.

Also the queueing theory the dispatcher is checked against.
"""
