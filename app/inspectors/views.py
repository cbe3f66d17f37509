from flask import Blueprint

bp = Blueprint("inspectors", __name__)
