"""HTTP views of the google domain."""

from flask import Blueprint

bp = Blueprint("google", __name__)
