#!/usr/bin/python3
"""python-ldap side of gwdir-bench: one benchmark per run, result as one JSON line.

Run by gwdir-bench with Debian's /usr/bin/python3 (python3-ldap). Connecting, binding and one
warm-up operation are not timed; CPU is this process's getrusage (user + sys) around the loop.
"""
import argparse
import json
import resource
import sys
import time

import ldap
from ldap.controls import SimplePagedResultsControl
from ldap.filter import escape_filter_chars


def lcg(seed, users):
    state = seed
    mask = (1 << 64) - 1
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) & mask
        yield (state >> 33) % users


def connect(args, dn=None, password=None):
    conn = ldap.initialize(args.uri, bytes_mode=False)
    conn.protocol_version = 3
    conn.set_option(ldap.OPT_REFERRALS, 0)
    if dn is not None:
        conn.simple_bind_s(dn, password)
    return conn


def mail_filter(k, domain):
    return "(mail=%s)" % escape_filter_chars("u%d@%s" % (k, domain))


def run_bind(args):
    conn = connect(args)
    conn.simple_bind_s(args.user_dn, args.user_password)

    def body():
        for _ in range(args.n):
            conn.simple_bind_s(args.user_dn, args.user_password)
        return args.n
    return body


def run_search(args):
    conn = connect(args, args.bind_dn, args.bind_password)
    conn.search_ext_s(args.base, ldap.SCOPE_SUBTREE, mail_filter(0, args.domain))

    def body():
        keys = lcg(args.seed, args.users)
        entries = 0
        for _ in range(args.n):
            result = conn.search_ext_s(args.base, ldap.SCOPE_SUBTREE, mail_filter(next(keys), args.domain))
            entries += len(result)
        if entries != args.n:
            raise SystemExit("search: %d entries for %d searches" % (entries, args.n))
        return args.n
    return body


def run_search_pipelined(args):
    conn = connect(args, args.bind_dn, args.bind_password)
    conn.search_ext_s(args.base, ldap.SCOPE_SUBTREE, mail_filter(0, args.domain))

    def body():
        keys = lcg(args.seed, args.users)
        sent = done = entries = 0
        outstanding = set()
        while done < args.n:
            while len(outstanding) < args.window and sent < args.n:
                outstanding.add(conn.search_ext(args.base, ldap.SCOPE_SUBTREE, mail_filter(next(keys), args.domain)))
                sent += 1
            # all=1: the whole answer of whichever search completes first.
            _, data, msgid, _ = conn.result3(ldap.RES_ANY, 1, -1)
            outstanding.discard(msgid)
            entries += len(data)
            done += 1
        if entries != args.n:
            raise SystemExit("search32: %d entries for %d searches" % (entries, args.n))
        return args.n
    return body


def run_paged(args):
    conn = connect(args, args.bind_dn, args.bind_password)

    def body():
        control = SimplePagedResultsControl(True, size=args.page_size, cookie="")
        entries = 0
        while True:
            msgid = conn.search_ext(args.base, ldap.SCOPE_SUBTREE, "(objectClass=*)", serverctrls=[control])
            _, data, _, controls = conn.result3(msgid)
            entries += len(data)
            cookie = b""
            for response in controls:
                if response.controlType == SimplePagedResultsControl.controlType:
                    cookie = response.cookie
            if not cookie:
                break
            control.cookie = cookie
        return entries
    return body


def run_add(args):
    conn = connect(args, args.bind_dn, args.bind_password)

    def body():
        sent = done = 0
        outstanding = 0
        while done < args.n:
            while outstanding < args.window and sent < args.n:
                uid = "%s%d" % (args.prefix, sent)
                conn.add_ext("uid=%s,%s" % (uid, args.base), [
                    ("objectClass", [b"inetOrgPerson", b"gwAccount"]),
                    ("uid", [uid.encode()]),
                    ("cn", [("Bench " + uid).encode()]),
                    ("sn", [b"Bench"]),
                    ("mail", [("%s@%s" % (uid, args.domain)).encode()]),
                ])
                outstanding += 1
                sent += 1
            conn.result3(ldap.RES_ANY, 1, -1)
            outstanding -= 1
            done += 1
        return args.n
    return body


def run_increment(args):
    conn = connect(args, args.bind_dn, args.bind_password)
    mods = [(ldap.MOD_INCREMENT, args.attribute, [b"1"])]
    conn.modify_ext_s(args.dn, mods)

    def body():
        for _ in range(args.n):
            conn.modify_ext_s(args.dn, mods)
        return args.n
    return body


BENCHMARKS = {
    "bind": run_bind,
    "search": run_search,
    "search32": run_search_pipelined,
    "paged": run_paged,
    "add": run_add,
    "increment": run_increment,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    parser.add_argument("--uri", required=True)
    parser.add_argument("--bind-dn")
    parser.add_argument("--bind-password")
    parser.add_argument("--user-dn")
    parser.add_argument("--user-password")
    parser.add_argument("--base")
    parser.add_argument("--dn")
    parser.add_argument("--attribute", default="gwMailUsage")
    parser.add_argument("--domain", default="bench.example.com")
    parser.add_argument("--prefix", default="py")
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    body = BENCHMARKS[args.benchmark](args)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    ops = body()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    json.dump({"benchmark": args.benchmark, "ops": ops, "seconds": seconds,
               "ops_per_s": ops / seconds, "cpu_us_per_op": cpu * 1e6 / ops}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
