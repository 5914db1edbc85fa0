"""Technical documentation pages without PII, full of numbers that look like some: redaction must leave them.

Datetime and string formatting, itertools output, SQL result tables, shell sessions with IP
addresses and ports, configuration files, version tables, hex dumps, UUIDs, ISBNs, epoch
timestamps, order and tracking ids. Generated deterministically; `technical_pages()` gives 60.
"""

# The pages are documentation text whose code lines are as long as real ones.
# ruff: noqa: E501
from __future__ import annotations

import random
import uuid

import phonenumbers


def _reads_as_us_number(text: str) -> bool:
    """Whether the digits of `text` form a valid US phone number: the shapes that fool a detector."""
    digits = "".join(c for c in text if c.isdigit())
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(digits, "US"))
    except phonenumbers.NumberParseException:
        return False


def _draw(r: random.Random, make, test=_reads_as_us_number) -> str:
    """A value from `make(r)` whose digits read as a US phone number (drawn until one does)."""
    while not test(value := make(r)):
        pass
    return value


def _ipv4(r: random.Random) -> str:
    return ".".join(str(r.randint(1, 254)) for _ in range(4))


def _datetime_page(r: random.Random) -> str:
    h, m, s = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)
    return f"""# Formatting dates and times

`strftime` turns a datetime into text. `%H%M%S` gives a compact time and `%z` the UTC offset:

```python
>>> from datetime import datetime, timezone, timedelta
>>> dt = datetime(2026, {r.randint(1, 12)}, {r.randint(1, 28)}, {h}, {m}, {s}, tzinfo=timezone(timedelta(hours=6)))
>>> dt.strftime("%H%M%S")
'{h:02d}{m:02d}{s:02d}'
>>> dt.strftime("%z")
'+0600'
>>> dt.strftime("+%H%M%S")
'+{h:02d}{m:02d}{s:02d}'
>>> dt.isoformat()
'2026-03-14T{h:02d}:{m:02d}:{s:02d}+06:00'
>>> dt.timestamp()
{r.randint(1_700_000_000, 1_800_000_000)}.0
```

ISO week dates read `2026-W{r.randint(10, 52)}-3`; ordinal dates `2026-{r.randint(100, 365)}`. A log line
`20260314T{h:02d}{m:02d}{s:02d}Z` is the basic format. Epoch milliseconds such as
{r.randint(1_700_000_000_000, 1_800_000_000_000)} need dividing by 1000 first.
"""


def _string_format_page(r: random.Random) -> str:
    x = r.randint(100, 999)
    return f"""# Format specification mini-language

Signs are shown with `+`:

```python
>>> '{{:+f}}; {{:+f}}'.format(3.14, -3.14)  # show it always
'+3.140000; -3.140000'
>>> '{{:,}}'.format({x}4567890)
'{x},456,7890'
>>> format({x}4567890, '_d')
'{x}_456_7890'
>>> '{{:010d}}'.format({x})
'0000000{x}'
>>> '{{:e}}'.format({x}4567.891)
'{str(x)[0]}.{str(x)[1:]}456789e+06'
>>> '{{:#x}}'.format({x * 1000})
'{hex(x * 1000)}'
```

Padding a phone-like id for a fixed-width file: `f"{{n:011d}}"` gives `000{x}45678`.
"""


def _digits_page(r: random.Random) -> str:
    return f"""# The string module

```python
>>> import string
>>> string.digits
'0123456789'
>>> string.hexdigits
'0123456789abcdefABCDEF'
>>> string.octdigits
'01234567'
>>> ''.join(reversed(string.digits))
'9876543210'
>>> int(string.digits[1:])
123456789
```

`str.isdigit()` is true for `'{r.randint(10**9, 10**10 - 1)}'` and false for `'12.5'`.
"""


def _itertools_page(r: random.Random) -> str:
    a = [r.randint(1, 9) for _ in range(6)]
    acc = [sum(a[: i + 1]) for i in range(6)]
    return f"""# itertools recipes

```python
>>> list(accumulate({a}))
{acc}
>>> list(accumulate({a}, operator.mul))[-1]
{eval("*".join(map(str, a)))}
>>> ''.join(map(str, islice(cycle('0123456789'), 25)))
'0123456789012345678901234'
>>> list(product('12', repeat=3))[:4]
[('1', '1', '1'), ('1', '1', '2'), ('1', '2', '1'), ('1', '2', '2')]
>>> sum(1 / 7 ** k for k in range(20))
1.1666666666666665
>>> 873.4111111111111111 * 1
873.4111111111112
>>> math.factorial(20)
2432902008176640000
>>> 2 ** 64
18446744073709551616
```
"""


def _sql_page(r: random.Random) -> str:
    rows = "\n".join(
        f"| {r.randint(10**5, 10**6)} | 2026-0{r.randint(1, 9)}-{r.randint(10, 28)} | {r.randint(1, 999)}.{r.randint(10, 99)} "
        f"| {r.randint(10**9, 10**10 - 1)} | {r.randint(10**17, 2 * 10**17)}{r.randint(0, 9)} |"
        for _ in range(8)
    )
    return f"""# Querying orders

```sql
select order_id, order_date, amount, tracking_no, reference
from curated.orders
where order_date >= date '2026-01-01' and amount > 100
order by amount desc
limit 8;
```

| order_id | order_date | amount | tracking_no | reference |
|---|---|---|---|---|
{rows}

The planner chose a hash join (cost 0.00..{r.randint(1000, 9999)}.{r.randint(10, 99)}, rows={r.randint(10**5, 10**6)}).
"""


def _shell_page(r: random.Random) -> str:
    ip = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
    port = r.choice([5432, 8080, 3000, 9000, 6379, 27017, 4317])
    return f"""# Connecting to the database host

```console
$ ssh -p 2222 deploy@{ip}
$ ss -tlnp | grep {port}
LISTEN 0 4096 0.0.0.0:{port} 0.0.0.0:* users:(("server",pid={r.randint(1000, 65000)},fd=7))
$ curl -s http://{ip}:{port}/health
{{"status":"ok","uptime_s":{r.randint(10**5, 10**7)},"build":"{r.getrandbits(40):010x}"}}
$ ping -c 1 192.168.{r.randint(0, 255)}.{r.randint(1, 254)}
64 bytes from 192.168.1.20: icmp_seq=1 ttl=64 time=0.{r.randint(100, 999)} ms
$ df -B1 /data
Filesystem 1B-blocks Used Available Use% Mounted on
/dev/nvme0n1p2 {r.randint(10**11, 10**12)} {r.randint(10**10, 10**11)} {r.randint(10**10, 10**11)} 37% /data
```

IPv6: `fe80::{r.getrandbits(16):x}:{r.getrandbits(16):x}:{r.getrandbits(16):x}%eth0`, `2001:db8::{r.randint(1, 99)}`.
"""


def _config_page(r: random.Random) -> str:
    return f"""# Configuration reference

```yaml
server:
  host: 0.0.0.0
  port: {r.randint(1024, 65535)}
  max_body_bytes: {r.randint(10**6, 10**8)}
  timeout: 30s
retry: {{attempts: {r.randint(2, 9)}, backoff_ms: [100, 400, 1600, 6400]}}
sentry_dsn: https://{r.getrandbits(128):032x}@o{r.randint(10**5, 10**6)}.ingest.example.io/{r.randint(10**6, 10**7)}
image: registry.example.io/app@sha256:{r.getrandbits(256):064x}
```

```ini
[database]
url = postgresql://app:${{DB_PASSWORD}}@db.internal:5432/app
pool_size = {r.randint(5, 50)}
statement_timeout = {r.randint(1000, 60000)}
```

Retina icons are named `logo@2x.png` and `logo@3x.png`; clone with `git clone git@github.com:acme/app.git`.
"""


def _versions_page(r: random.Random) -> str:
    rows = "\n".join(
        f"| {r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 20)} | 2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} "
        f"| {r.randint(1, 3)}.{r.randint(8, 13)} | `{r.getrandbits(28):07x}` |"
        for _ in range(10)
    )
    return f"""# Release history

| version | released | python | commit |
|---|---|---|---|
{rows}

Pin with `pkg=={r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 9)}` or `pkg>=2.1,<3`. Build numbers such as
`{r.randint(2020, 2026)}.{r.randint(1, 12)}.{r.randint(1, 28)}.{r.randint(10000, 99999)}` come from CI.
"""


def _hexdump_page(r: random.Random) -> str:
    lines = "\n".join(
        f"{i * 16:08x}  " + " ".join(f"{r.getrandbits(8):02x}" for _ in range(16)) for i in range(8)
    )
    return f"""# Inspecting a file header

```console
$ xxd -g1 -l128 data.bin | head
{lines}
$ sha256sum data.bin
{r.getrandbits(256):064x}  data.bin
$ od -An -tu4 -N16 data.bin
 {r.getrandbits(32)} {r.getrandbits(32)} {r.getrandbits(32)} {r.getrandbits(32)}
```

Magic `0x89504E47`; CRC32 `{r.getrandbits(32):#010x}`; request id `{uuid.UUID(int=r.getrandbits(128))}`.
"""


def _numeric_page(r: random.Random) -> str:
    rows = "\n".join(
        "  ".join(f"{r.uniform(-1000, 1000):12.6f}" for _ in range(4)) + f"  {r.randint(10**8, 10**9)}"
        for _ in range(10)
    )
    return f"""# numpy output

```python
>>> np.set_printoptions(precision=6, suppress=True)
>>> arr
{rows}
>>> arr.sum()
{r.randint(10**12, 10**13)}.{r.randint(100000, 999999)}
>>> np.iinfo(np.int64).max
9223372036854775807
>>> np.random.default_rng({r.randint(10**8, 10**9)}).integers(0, 10**12, 3)
array([{r.randint(10**11, 10**12)}, {r.randint(10**11, 10**12)}, {r.randint(10**11, 10**12)}])
```
"""


def _bibliography_page(r: random.Random) -> str:
    return f"""# Further reading

- *Designing Data-Intensive Applications*, ISBN 978-1-4493-7332-0
- *Fluent Python*, 2nd ed., ISBN 978-1-492-05635-5 (ISBN-10 1-4920-5635-2)
- *Database Internals*, ISBN 9781492040347, pp. {r.randint(100, 300)}-{r.randint(301, 400)}
- RFC {r.randint(1000, 9999)}, DOI 10.{r.randint(1000, 9999)}/{r.randint(10**6, 10**7)}, arXiv:{r.randint(1000, 2999)}.{r.randint(10000, 99999)}
- ISSN 1234-5679; OCLC {r.randint(10**8, 10**9)}
"""


def _ids_page(r: random.Random) -> str:
    return f"""# Identifiers in the orders API

Order ids are 9-digit numbers (`{r.randint(10**8, 10**9)}`); tracking numbers from the carrier read
`JD0002{r.randint(10**11, 10**12)}` or `1Z{r.getrandbits(40):010X}`; invoice numbers `INV-{r.randint(2020, 2026)}-{r.randint(10**5, 10**6)}`;
ticket keys `OPS-{r.randint(100, 9999)}`; EAN-13 barcodes such as `{r.randint(10**12, 10**13 - 1)}`.

```http
GET /v2/orders/{r.randint(10**8, 10**9)}/items?page=2&per_page=100 HTTP/1.1
X-Request-Id: {uuid.UUID(int=r.getrandbits(128))}
If-None-Match: "{r.getrandbits(64):016x}"
```

A response carries `"created": {r.randint(1_700_000_000, 1_800_000_000)}` and `"amount_minor": {r.randint(100, 10**7)}`.
"""


def _log_page(r: random.Random) -> str:
    lines = "\n".join(
        f"2026-04-{r.randint(10, 28)}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}."
        f"{r.randint(0, 999999):06d}+00:00 INFO pid={r.randint(1000, 99999)} span={r.getrandbits(64):016x} "
        f"latency_ms={r.randint(1, 5000)} bytes={r.randint(100, 10**7)}"
        for _ in range(8)
    )
    return f"""# Reading the service logs

```text
{lines}
```

Timestamps carry microseconds and the offset `+00:00`; rotate logs at {r.randint(10, 500)} MiB.
"""


def _regex_page(r: random.Random) -> str:
    return r"""# Validating input with regular expressions

```python
PHONE = re.compile(r"^\+?[1-9]\d{1,14}$")   # E.164 shape only
CARD = re.compile(r"^(?:\d{4}[ -]?){3}\d{4}$")
assert PHONE.match("+15550100")  # a placeholder, not a subscriber
assert not CARD.match("1234 5678 9012")
```

The test data uses `0000 0000 0000 0000` and `+0000000000`; ids like `A1B2-C3D4` are rejected.
Semantic versions match `\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?`, e.g. `1.2.3-rc.1`.
"""


def _getaddrinfo_page(r: random.Random) -> str:
    v4 = _draw(r, _ipv4)
    v6 = ":".join(f"{r.getrandbits(16):x}" for _ in range(8))
    return f"""# Resolving a host name

`getaddrinfo()` returns 5-tuples; the last item is the socket address, `(host, port)` for IPv4
and `(host, port, flowinfo, scope_id)` for IPv6:

```python
>>> socket.getaddrinfo("example.org", {r.choice([80, 443, 8443])}, proto=socket.IPPROTO_TCP)
[(socket.AF_INET6, socket.SOCK_STREAM, 6, '', ('{v6}', 80, 0, 0)),
 (socket.AF_INET, socket.SOCK_STREAM, 6, '', ('{v4}', 80))]
>>> socket.inet_aton('{v4}')
b'\\x{r.getrandbits(8):02x}\\x{r.getrandbits(8):02x}\\x{r.getrandbits(8):02x}\\x{r.getrandbits(8):02x}'
```

Listening on `('{r.randint(10, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}', {r.randint(1024, 65535)})` binds one interface only.
"""


def _logging_page(r: random.Random) -> str:
    lines = "\n".join(
        f"2026-0{r.randint(1, 9)}-{r.randint(10, 28)} {r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)},"
        f"{r.randint(100, 999)} {_draw(r, _ipv4)} "
        f"{r.choice(['alice', 'bob', 'svc-backup'])} {r.choice(['Protocol problem: connection reset', 'Login ok', 'Retrying'])}"
        for _ in range(6)
    )
    return f"""# Adding context to log records

With `format='%(asctime)s %(clientip)s %(user)s %(message)s'` and the `extra` mapping, each record
reads:

```text
{lines}
```

`%(asctime)s` prints milliseconds after a comma; `%(msecs)03d` gives them alone ({r.randint(100, 999)}).
`%(created)f` is the epoch time, e.g. {r.randint(1_700_000_000, 1_800_000_000)}.{r.randint(100000, 999999)}.
"""


def _money_format_page(r: random.Random) -> str:
    n = int(_draw(r, lambda r: f"{r.randint(100_000_000, 999_999_999)}00")[:-2])
    spaced, dotted = f"{n:,}".replace(",", " "), f"{n:,}".replace(",", ".")
    small = r.randint(1_000_000, 9_999_999)
    return f"""# Formatting money

A `moneyfmt()` recipe groups the digits with any separator:

```python
>>> moneyfmt(Decimal({n}), sep=' ')
'{spaced}.00'
>>> moneyfmt(Decimal({n}), sep='.', dp=',')
'{dotted},00'
>>> format({small}, ',d').replace(',', ' ')
'{f"{small:,}".replace(",", " ")}'
>>> f"{{{n}:_}}"
'{n:_}'
```

A French invoice reads `{spaced} €`; a German one `{dotted},00 €`.
"""


def _sequence_page(r: random.Random) -> str:
    start, k = 1, r.choice([10, 10, 11])  # `1 2 3 4 5 6 7 8 9 10`: 12345678910 reads as a US number
    seq = " ".join(str(i) for i in range(start, start + k))
    squares = " ".join(str(i * i) for i in range(start, start + k))
    return f"""# Arrays of C integers

```python
>>> IntArray{k} = c_int * {k}
>>> ia = IntArray{k}(*range({start}, {start + k}))
>>> for i in ia: print(i, end=" ")
...
{seq}
>>> print(*(i * i for i in ia))
{squares}
>>> bytes(range({r.randint(48, 52)}, {r.randint(58, 60)}))
b'0123456789'
```

Out-of-range values wrap: `c_ubyte(-1).value` is 255, `c_short({r.randint(40000, 60000)}).value` negative.
"""


def _sample_rates_page(r: random.Random) -> str:
    return f"""# Choosing a sampling rate

Most sound devices support only a few rates:

Rate Description {r.choice([8000, 11025])} telephone quality 11025 speech recording 22050 44100 CD quality audio (16 bits, 2 channels) 48000 DAT 96000 studio

`setparameters({r.choice([2, 4, 16])}, 2, 44100)` returns `(16, 2, 44100)`; a buffer of {r.randint(1024, 8192)} frames
at 44100 Hz lasts {r.randint(20, 190)} ms. Bit rates: 64000 96000 128000 192000 256000 320000.
"""


BUILDERS = [
    _datetime_page,
    _string_format_page,
    _digits_page,
    _itertools_page,
    _sql_page,
    _shell_page,
    _config_page,
    _versions_page,
    _hexdump_page,
    _numeric_page,
    _bibliography_page,
    _ids_page,
    _log_page,
    _regex_page,
    _getaddrinfo_page,
    _logging_page,
    _money_format_page,
    _sequence_page,
    _sample_rates_page,
]


def technical_pages(count: int = 76, seed: int = 1616) -> list[str]:
    """`count` technical pages, cycling through the templates with fresh numbers each time."""
    r = random.Random(seed)
    return [BUILDERS[i % len(BUILDERS)](r) for i in range(count)]
