#!/usr/bin/env bash
# Acceptance checks for the shop: each service's readiness under its own path prefix,
# then the journey: fetch a seeded user and product, order it, see the order and the
# stock decrease; plus bad input.
#
#   ci/acceptance-shop.sh [BASE_URL]                     one host, routed by path prefix
#   SHOP_URL=http://shop-alb.example ci/acceptance-shop.sh
#   SHOP_USERS_URL=… SHOP_PRODUCTS_URL=… SHOP_ORDERS_URL=… ci/acceptance-shop.sh
#
# BASE_URL defaults to http://localhost:3001 for users, :3002 products, :3003 orders
# (compose) when neither it nor the per-service variables are set. Needs the demo data
# (`shop-users seed`, `shop-products seed`): user 1 and product 1.
set -uo pipefail
# shellcheck source=ci/acceptance-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/acceptance-lib.sh"

BASE_URL="${1:-${SHOP_URL:-}}"
BASE_URL="${BASE_URL%/}"
USERS="${SHOP_USERS_URL:-${BASE_URL:-http://localhost:3001}}"
PRODUCTS="${SHOP_PRODUCTS_URL:-${BASE_URL:-http://localhost:3002}}"
ORDERS="${SHOP_ORDERS_URL:-${BASE_URL:-http://localhost:3003}}"
USERS="${USERS%/}" PRODUCTS="${PRODUCTS%/}" ORDERS="${ORDERS%/}"

echo "shop acceptance: users $USERS, products $PRODUCTS, orders $ORDERS"
status_is() { [[ "$STATUS" == "$1" ]]; }
field_is() { [[ "$(json "$1")" == "$2" ]]; }
header_is() { [[ "$(header "$1")" == "$2" ]]; }
has_email() { [[ "$(json email)" == *@* ]]; }
is_positive_integer() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
less_than() { is_positive_integer "$2" && [[ "$1" =~ ^[0-9]+$ ]] && (($1 < $2)); }

for service in users:"$USERS" products:"$PRODUCTS" orders:"$ORDERS"; do
    name="${service%%:*}"
    url="${service#*:}"
    wait_ready "$url/$name/ready"
    check "$name /$name/ready answers 200, ready" fully_ready
    request GET "$url/$name/health"
    check "$name /$name/health answers 200" status_is 200
done

request GET "$USERS/users/1"
check "GET /users/1 answers 200" status_is 200
check "user 1 has id 1" field_is id 1
check "user 1 has an email" has_email
request GET "$USERS/users/999999999"
check "GET /users/999999999 answers 404" status_is 404
request GET "$USERS/users/abc"
check "GET /users/abc answers 400" status_is 400

request GET "$PRODUCTS/products/1"
check "GET /products/1 answers 200" status_is 200
request GET "$PRODUCTS/products/1"
check "a second GET /products/1 is served from the cache (X-Cache: hit)" header_is x-cache hit
price="$(json price_cents)"
stock_before="$(json stock)"
check "product 1 has a price and stock left ($stock_before)" is_positive_integer "$stock_before"
request GET "$PRODUCTS/products/abc"
check "GET /products/abc answers 400" status_is 400

request POST "$ORDERS/orders" '{"user_id": 1, "product_id": 1, "quantity": 1}'
check "POST /orders (user 1, product 1, quantity 1) answers 201" status_is 201
order_id="$(json id)"
check "the order has an id" is_positive_integer "$order_id"
check "the order total is the price ($price)" field_is total_cents "$price"
request GET "$ORDERS/orders/$order_id"
check "GET /orders/$order_id answers 200 with the order" field_is quantity 1

request GET "$PRODUCTS/products/1"
stock_after="$(json stock)"
check "product 1 stock decreased ($stock_before -> $stock_after)" less_than "$stock_after" "$stock_before"

request POST "$ORDERS/orders" '{"user_id": 1, "product_id": 1, "quantity": 0}'
check "an order with quantity 0 answers 422" status_is 422
request POST "$ORDERS/orders" '{"user_id": 999999999, "product_id": 1, "quantity": 1}'
check "an order for an unknown user answers 422" status_is 422
request POST "$ORDERS/orders" '{"user_id": 1'
check "an order with invalid JSON answers 400" status_is 400
request GET "$ORDERS/orders/999999999"
check "GET /orders/999999999 answers 404" status_is 404

finish shop
