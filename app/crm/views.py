"""HTTP views of the crm domain."""

from flask import Blueprint

from app.crm.api import api_bp

bp = Blueprint("crm", __name__)
bp.register_blueprint(api_bp)
