from flask import Blueprint, current_app, render_template

from shop.prices import PRICE

bp = Blueprint("shop", __name__, template_folder="templates")


@bp.route("/")
def index():
    return render_template("shop/index.html", price=PRICE, greeting=current_app.config["GREETING"]) + " shop view 0"
