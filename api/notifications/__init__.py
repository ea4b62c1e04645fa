"""Notifications: the notify primitive (notify.py), broadcasts, rules, the inbox and the delivery log."""
