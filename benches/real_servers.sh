#!/usr/bin/env bash
# The crawler against a real server: Debian's nginx on 127.0.0.1 serving a generated static
# site, crawled by wisp's `crawl`, `wget --recursive`, and fetched (no parsing) by
# `curl --parallel` from the list of its URLs. Rounds are interleaved; the table gives each
# tool's median wall time and the ratio to wisp (> 1: wisp is faster).
#
# A second site is the same plus HANG links (spread over the depths) to a server that accepts
# connections and never answers, crawled with a 2 s timeout by wisp and wget (curl is given the
# same list with those URLs and `--max-time 2`).
#
#   bash benches/real_servers.sh            # 10 000 pages, 3 rounds
#   PAGES=2000 ROUNDS=5 bash benches/real_servers.sh
#
# Needs nginx, wget, curl and python3 (installed with apt-get if missing). Everything listens
# on 127.0.0.1 only and is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

PAGES=${PAGES:-10000}
ROUNDS=${ROUNDS:-3}
HANG=${HANG:-20}
LINKS=${LINKS:-8}
PAGE_BYTES=${PAGE_BYTES:-16384}
WORK=${WORK:-/tmp/wisp-real-servers}

need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if ! need nginx || ! need wget || ! need curl; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wget curl >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --bin crawl -q
CRAWL=target/release/crawl

rm -rf "$WORK" && mkdir -p "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
HANG_PORT=$(free_port)

# The sites: /index.html links page 0..LINKS-1; page N links N+1 and LINKS-1 pseudo-random
# pages (so every page is reachable and depths run deep), plus one image per 30 pages. The
# "hang" site adds, on HANG pages spread over the site, a link to the silent server.
python3 - "$WORK" "$PAGES" "$LINKS" "$PAGE_BYTES" "$HANG" "$HANG_PORT" "$PORT" <<'PY'
import os, random, sys
work, pages, links, size, hang, hang_port, port = sys.argv[1], *map(int, sys.argv[2:])
png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
                    "0000000c4944415408d763f8cfc0000003010100c9fe92ef0000000049454e44ae426082")
for name, with_hang in (("plain", False), ("hang", True)):
    root = os.path.join(work, name)
    os.makedirs(os.path.join(root, "page"))
    os.makedirs(os.path.join(root, "img"))
    urls = ["/", *(f"/page/{n}.html" for n in range(pages))]
    hang_at = set(range(0, pages, max(1, pages // hang))[:hang]) if with_hang else set()
    def write(path, hrefs):
        body = "<!DOCTYPE html><html><head><meta charset=utf-8><title>t</title></head><body><ul>\n"
        body += "".join(f'<li><a href="{h}">link</a></li>\n' for h in hrefs)
        pad = max(0, size - len(body) - 30)
        body += "<p>" + ("lorem ipsum " * (pad // 12 + 1))[:pad] + "</p></body></html>\n"
        with open(os.path.join(root, path.lstrip("/")), "w") as f:
            f.write(body)
    write("/index.html", [f"/page/{n}.html" for n in range(min(links, pages))])
    for n in range(pages):
        rng = random.Random(n)
        hrefs = [f"/page/{(n + 1) % pages}.html"]
        hrefs += [f"/page/{rng.randrange(pages)}.html" for _ in range(links - 1)]
        if n % 30 == 0:
            hrefs.append(f"/img/{n // 30}.png")
            with open(os.path.join(root, f"img/{n // 30}.png"), "wb") as f:
                f.write(png)
            urls.append(f"/img/{n // 30}.png")
        if n in hang_at:
            hrefs.append(f"http://127.0.0.1:{hang_port}/hang/{n}")
        write(f"/page/{n}.html", hrefs)
    with open(os.path.join(work, f"{name}.urls"), "w") as f:
        for u in urls:
            f.write(f'url = "http://127.0.0.1:{port}{u}"\noutput = "/dev/null"\n')
        for n in sorted(hang_at):
            f.write(f'url = "http://127.0.0.1:{hang_port}/hang/{n}"\noutput = "/dev/null"\n')
PY

# nginx on 127.0.0.1:PORT serving $WORK/plain at / and $WORK/hang under its own port+1.
PORT2=$(free_port)
sed -i "s/127.0.0.1:$PORT/127.0.0.1:$PORT2/" "$WORK/hang.urls"
cat > "$WORK/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 100000;
  types { text/html html; image/png png; }
  server { listen 127.0.0.1:$PORT; root $WORK/plain; }
  server { listen 127.0.0.1:$PORT2; root $WORK/hang; }
}
EOF
"$NGINX" -c "$WORK/nginx.conf"
# The silent server: accepts, reads, never answers.
python3 - "$HANG_PORT" <<'PY' &
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024)
held = []
while True:
    c, _ = s.accept(); held.append(c)
PY
SILENT=$!
cleanup() { kill "$SILENT" 2>/dev/null || true; "$NGINX" -c "$WORK/nginx.conf" -s stop 2>/dev/null || true; }
trap cleanup EXIT
sleep 0.5

now() { date +%s.%N; }
run_timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1 || true; python3 -c "print($(now) - $t0)"; }

wisp_crawl() { "$CRAWL" --quiet --depth 1000 --per-host 64 --timeout "$1" --retries 0 "http://127.0.0.1:$2/"; }
wget_crawl() {
  rm -rf "$WORK/wget" && wget --recursive --level=inf --no-verbose --tries=1 --timeout="$1" \
    --span-hosts --domains=127.0.0.1 -P "$WORK/wget" "http://127.0.0.1:$2/" ; rm -rf "$WORK/wget"
}
curl_fetch() { curl --silent --parallel --parallel-max 64 --max-time "$1" --config "$WORK/$2.urls"; }

declare -A T
for round in $(seq "$ROUNDS"); do
  for site in plain hang; do
    port=$PORT; [ "$site" = hang ] && port=$PORT2
    T[$site,wisp,$round]=$(run_timed wisp_crawl 2 "$port")
    T[$site,wget,$round]=$(run_timed wget_crawl 2 "$port")
    T[$site,curl,$round]=$(run_timed curl_fetch 2 "$site")
  done
  echo "round $round done" >&2
done

# Sanity: what wisp's crawl found on the plain site.
"$CRAWL" --quiet --depth 1000 --per-host 64 --retries 0 "http://127.0.0.1:$PORT/" 2>&1 | tail -n 1 | sed 's/^/wisp (plain): /' || true
"$CRAWL" --quiet --depth 1000 --per-host 64 --timeout 2 --retries 0 "http://127.0.0.1:$PORT2/" 2>&1 | tail -n 1 | sed 's/^/wisp (hang):  /' || true

python3 - "$ROUNDS" <<PY
import statistics, sys
rounds = int(sys.argv[1])
t = {}
$(for k in "${!T[@]}"; do echo "t['$k'] = ${T[$k]}"; done)
print()
print(f"Crawl of a {$PAGES}-page static site ({$PAGE_BYTES} B pages, {$LINKS} links each) from nginx on 127.0.0.1, "
      f"{rounds} interleaved rounds, medians; ratio = tool / wisp (> 1: wisp faster)")
print()
print("| site | wisp crawl | wget --recursive | ratio | curl --parallel (fetch only) | ratio |")
print("|---|---|---|---|---|---|")
for site, label in (("plain", "plain"), ("hang", f"+{$HANG} links to a silent server, timeout 2 s")):
    med = {tool: statistics.median(t[f"{site},{tool},{r}"] for r in range(1, rounds + 1)) for tool in ("wisp", "wget", "curl")}
    ratio = lambda tool: statistics.median(t[f"{site},{tool},{r}"] / t[f"{site},wisp,{r}"] for r in range(1, rounds + 1))
    print(f"| {label} | {med['wisp']:.2f} s | {med['wget']:.2f} s | {ratio('wget'):.2f}x | {med['curl']:.2f} s | {ratio('curl'):.2f}x |")
PY
