"""Requests from people in the CRM who are not GroupSync users: access, correction, deletion."""
