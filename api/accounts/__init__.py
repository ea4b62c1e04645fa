"""The account and its plan: what every domain needs to know about a caller. Imports only core."""
