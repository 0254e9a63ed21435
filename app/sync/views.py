"""HTTP views of the sync domain."""

from flask import Blueprint

bp = Blueprint("sync", __name__)
