PRICE = "price 0"
