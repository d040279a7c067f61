# table.awk: bench/run.sh's results as markdown tables for README.md.
#   awk -v cases="NAME..." -f bench/table.awk bench/cases.txt RESULTS
# The first file gives each case's description, the second holds the lines
# the drivers print (result, check, fail, flops, wall, info).  agc's GFLOP/s
# are the case's floating-point operations (flops lines: multiply-adds
# counted as two) over the gcc build's time, and "% of peak" their share of
# peak.c's multiply-add rate on this core (info peak).

function fmt(ns) {
    if (ns < 1e4) return sprintf("%.2f µs", ns / 1e3)
    if (ns < 1e6) return sprintf("%.1f µs", ns / 1e3)
    if (ns < 1e9) return sprintf("%.2f ms", ns / 1e6)
    return sprintf("%.2f s", ns / 1e9)
}

function ratio(a, b,    r) {
    if (a == "" || b == "" || b <= 0) return "n/a"
    r = a / b
    return sprintf(r >= 100 ? "%.0fx" : r >= 10 ? "%.1fx" : "%.2fx", r)
}

function esc(s) { gsub(/\|/, "\\|", s); return s }

function dims(s) { gsub(/,/, "x", s); return s }

# "3" or "(3, 5)" from "3" or "3,5"
function pair(s,    v) {
    if (split(s, v, ",") == 1) return s
    return v[1] == v[2] ? v[1] : "(" v[1] ", " v[2] ")"
}

function describe(op, x, w, st, pad,    v, n, k, s, xv, i) {
    if (op == "expr")
        return "y = x - 2; z = 3 y^2; a = mean(z), " dims(x) " elements"
    split(x, xv, ",")
    if (op == "linear") {
        split(w, v, ",")
        return "Linear(" v[2] ", " v[1] ") on " dims(x)
    }
    if (op == "mlp") {
        n = split(w, v, ",")
        s = "MLP " xv[2]
        for (i = 1; i <= n; i++) s = s "-" v[i]
        return s ", relu between, on " dims(x)
    }
    if (op == "softmax")
        return "log(softmax(x, dim=1)) on " dims(x)
    if (op == "lenet")
        return "LeNet-5 training step (conv 1-6 k5, pool, conv 6-16 k5, pool, linear 256-120-84-10, cross-entropy) on " dims(x)
    n = split(w, v, ",")
    k = n == 3 ? v[3] : pair(v[3] "," v[4])
    s = (op == "conv1d" ? "Conv1d(" : "Conv2d(") xv[2] ", " v[1] ", " k ")"
    if (v[2] != xv[2]) s = s ", groups " xv[2] / v[2]
    if (pair(st) != "1") s = s ", stride " pair(st)
    if (pair(pad) != "0") s = s ", padding " pair(pad)
    return s " on " dims(x)
}

function or_unknown(k) { return k in info ? info[k] : k " unknown" }

function get(c, who, i) { return (c, who, i) in t ? t[c, who, i] : "" }

function cell(c, who, i) {
    if ((c, who, i) in t)
        return fmt(t[c, who, i]) ((c, who) in bad ? " (WRONG: " bad[c, who] ")" : "")
    if ((c, who) in why) return "n/a (" esc(why[c, who]) ")"
    return "n/a"
}

# agc's GFLOP/s and % of peak, from the gcc build's time
function rate(c, i,    g, r) {
    g = get(c, "gcc", i)
    if (g == "" || g <= 0 || !((c, i) in flops)) return "n/a"
    r = flops[c, i] / g
    if (!("peak" in info) || info["peak"] <= 0) return sprintf("%.1f", r)
    return sprintf("%.1f (%.0f%%)", r, 100 * r / info["peak"])
}

function table(i, title,    k, c, g) {
    print "**" title "** (median time per call)"
    print ""
    print "| case | agc, gcc -O3 | agc, tcc JIT | PyTorch | naive loops | PyTorch / agc | tcc / gcc | naive / agc | agc GFLOP/s (% of peak) |"
    print "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    for (k = 1; k <= ncase; k++) {
        c = order[k]
        g = get(c, "gcc", i)
        printf "| `%s` %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c, esc(desc[c]),
            cell(c, "gcc", i), cell(c, "tcc", i), cell(c, "torch", i),
            cell(c, "naive", i), ratio(get(c, "torch", i), g),
            ratio(get(c, "tcc", i), g), ratio(get(c, "naive", i), g),
            rate(c, i)
    }
    print ""
}

# Two threads: agc's code built with -fopenmp on 2 threads (omp) against
# itself without (gcc, one thread) and PyTorch on 1 and 2 threads; the
# issue's targets are for the cases of 10 MFLOP or more (marked)
function table2(i, title,    k, c, g, f) {
    print "**" title ", two threads** (median time per call; * marks a case of 10 MFLOP or more)"
    print ""
    print "| case | agc, 1 thread | agc, 2 threads | agc 1 / 2 threads | PyTorch, 1 thread | PyTorch, 2 threads | PyTorch 2 threads / agc 2 threads |"
    print "|---|--:|--:|--:|--:|--:|--:|"
    for (k = 1; k <= ncase; k++) {
        c = order[k]
        g = get(c, "omp", i)
        f = (c, i) in flops && flops[c, i] >= 1e7 ? " *" : ""
        printf "| `%s`%s | %s | %s | %s | %s | %s | %s |\n", c, f,
            cell(c, "gcc", i), cell(c, "omp", i), ratio(get(c, "gcc", i), g),
            cell(c, "torch", i), cell(c, "torch2", i),
            ratio(get(c, "torch2", i), g)
    }
    print ""
}

FNR == NR {                         # cases.txt
    if ($0 !~ /^#/ && NF == 6) desc[$1] = describe($2, $3, $4, $5, $6)
    next
}
$1 == "result" {                   # one per round: the median of them
    k = ++nres[$2, $3]
    res[$2, $3, 1, k] = $4
    res[$2, $3, 2, k] = $5
}
$1 == "flops" { flops[$2, 1] = $3; flops[$2, 2] = $4 }
$1 == "check" && $4 != "ok" { bad[$2, $3] = "max rel. error " $5 " vs naive" }
$1 == "fail" {
    r = $0
    sub(/^fail [^ ]+ [^ ]+ /, "", r)
    sub(/[^ ]*:[0-9]+:[0-9]+: error: /, "", r)   # FILE:LINE:COL: of agc's errors
    why[$2, $3] = r
}
$1 == "wall" { wall = $3; wruns = $4 }
$1 == "fail" && $2 == "agc_run" { wallwhy = r }
$1 == "info" {
    k = $2
    v = $0
    sub(/^info [^ ]+ /, "", v)
    info[k] = v
}

# the median of res[c, who, i, 1..n]
function median(c, who, i, n,    a, j, k, x) {
    for (j = 1; j <= n; j++) {      # insertion sort: n is a few rounds
        x = res[c, who, i, j] + 0
        for (k = j - 1; k >= 1 && a[k] > x; k--)
            a[k + 1] = a[k]
        a[k + 1] = x
    }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

END {
    for (key in nres) {
        split(key, parts, SUBSEP)
        for (i = 1; i <= 2; i++)
            t[parts[1], parts[2], i] = median(parts[1], parts[2], i, nres[key])
    }
    n = split(cases, words, /[ \t\n]+/)
    for (k = 1; k <= n; k++)
        if (words[k] != "") order[++ncase] = words[k]
    table(1, "Forward")
    table(2, "Forward + backward")
    table2(1, "Forward")
    table2(2, "Forward + backward")
    if (wall != "")
        print "`agc run specs/autograd.yaml` (load, compile, JIT, run, print): " fmt(wall) " wall time, median of " wruns " runs."
    else
        print "`agc run specs/autograd.yaml`: n/a (" wallwhy ")."
    print ""
    printf "Machine: %s; %s; %s; ", or_unknown("cpu"), or_unknown("cc"),
        or_unknown("tcc")
    if ("torch" in info) {
        split(info["torch"], tv, " ")
        printf "PyTorch %s%s, %s thread, BLAS: %s; ", tv[1],
            ("torchdeb" in info ? " (" info["torchdeb"] ")" : ""), tv[2],
            or_unknown("blas")
    } else {
        printf "no PyTorch; "
    }
    if ("peak" in info)
        print "peak (one core, multiply-add loop): " info["peak"] " GFLOP/s."
    else
        print "peak unknown."
}
