GREETING = "greeting 0"
