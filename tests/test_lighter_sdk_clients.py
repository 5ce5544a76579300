"""The fake Lighter server's fidelity, judged by code no one here wrote: the official SDK's own REST
clients, its signer client (including the Go library's own HTTP calls) and its WsClient, pointed
at the fake, read what a trading client reads and send a signed order that the fake matches."""
from __future__ import annotations

import asyncio
import time

import pytest

from lighter_harness import require_lighter_sdk

ACCOUNT, KEY = 2002, 4


@pytest.fixture(scope="module")
def fake():
    require_lighter_sdk()
    from adapters.lighter.fake_server import FakeLighter, FakeSettings

    server = FakeLighter(FakeSettings(account_index=ACCOUNT, seed=5)).start()
    yield server
    server.stop()


def test_the_sdk_rest_clients_read_markets_account_nonce_keys_and_the_book(fake):
    import lighter

    async def read():
        client = lighter.ApiClient(configuration=lighter.Configuration(host=fake.url))
        try:
            order_api, account_api = lighter.OrderApi(client), lighter.AccountApi(client)
            details = await order_api.order_book_details(market_id=2)
            books = await order_api.order_books()
            account = await account_api.account(by="index", value=str(ACCOUNT))
            nonce = await lighter.TransactionApi(client).next_nonce(account_index=ACCOUNT, api_key_index=KEY)
            book = await order_api.order_book_orders(market_id=2, limit=5)
            return details, books, account, nonce, book
        finally:
            await client.close()

    details, books, account, nonce, book = asyncio.run(read())
    sol = details.order_book_details[0]
    assert (sol.symbol, sol.market_id, sol.size_decimals, sol.price_decimals) == ("SOL", 2, 3, 3)
    assert sol.supported_size_decimals == 3 and sol.min_base_amount == "0.050"
    assert {b.symbol for b in books.order_books} == {"ETH", "BTC", "SOL", "HYPE", "XRP"}
    assert account.accounts[0].index == ACCOUNT and account.accounts[0].positions[0].market_id == 2
    assert nonce.nonce == 0
    assert len(book.asks) == 5 and len(book.bids) == 5
    assert int(book.asks[0].price.replace(".", "")) > int(book.bids[0].price.replace(".", ""))  # the SDK's own parse


def test_the_sdk_signer_client_checks_its_key_and_its_signed_order_is_accepted_and_matched(fake):
    import lighter
    from adapters.lighter.signer import generate_api_key

    private, public = generate_api_key()
    fake.register_key(ACCOUNT, KEY, public)

    async def trade():
        signer = lighter.SignerClient(url=fake.url, account_index=ACCOUNT, api_private_keys={KEY: private},
                                      chain_id=304)
        try:
            # The Go library's own GET /apikeys (blocking, hence the fake on its own thread).
            check = signer.check_client()
            api = lighter.OrderApi(signer.api_client)
            best_ask = (await api.order_book_orders(market_id=2, limit=1)).asks[0]
            ask_int = int(best_ask.price.replace(".", ""))
            # A buy of 0.1 SOL a few ticks through the ask: IOC, so it fills at once against the book.
            tx, response, err = await signer.create_order(
                market_index=2, client_order_index=4242, base_amount=100, price=ask_int + 5, is_ask=False,
                order_type=signer.ORDER_TYPE_LIMIT, time_in_force=signer.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL,
                order_expiry=signer.DEFAULT_IOC_EXPIRY, api_key_index=KEY)
            return check, response, err
        finally:
            await signer.close()

    check, response, err = asyncio.run(trade())
    assert check is None and err is None
    assert response.code == 200 and len(response.tx_hash) == 80
    deadline = time.time() + 2
    while fake.position(ACCOUNT) == 0 and time.time() < deadline:
        time.sleep(0.02)
    assert fake.position(ACCOUNT) == pytest.approx(0.1)
    trades = fake.account_trades(ACCOUNT)
    assert trades[-1]["bid_client_id"] == 4242 and trades[-1]["bid_account_id"] == ACCOUNT
    assert fake.sent_txs[-1]["MarketIndex"] == 2 and fake.sent_txs[-1]["Nonce"] == 0   # reference §15: market index


def test_the_sdk_ws_client_gets_the_book_and_the_account(fake):
    import lighter

    books, accounts = [], []

    async def listen():
        client = lighter.WsClient(ws_url=fake.ws_url, order_book_ids=[2], account_ids=[ACCOUNT],
                                  on_order_book_update=lambda m, b: books.append((m, b)),
                                  on_account_update=lambda a, s: accounts.append((a, s)))
        task = asyncio.ensure_future(client.run_async())
        deadline = time.time() + 3
        while (len(books) < 3 or not accounts) and time.time() < deadline:
            await asyncio.sleep(0.05)
        await client.ws.close()
        await asyncio.wait_for(task, 3)

    asyncio.run(listen())
    assert books and books[0][0] == "2" and books[-1][1]["asks"] and books[-1][1]["bids"]
    assert accounts and accounts[0][0] == str(ACCOUNT)
