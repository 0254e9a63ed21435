"""HTTP views of the crm domain."""

from flask import Blueprint

bp = Blueprint("crm", __name__)
