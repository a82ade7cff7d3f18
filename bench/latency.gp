# SPDX-License-Identifier: Apache-2.0
# Latency against object size, log-log: the library's operations and their
# baselines from one run of bench/run.sh (the table bench/plot_data.cpp
# writes). Run by bench/run.sh --plot FILE:
#   gnuplot -e "data='latency.tsv'; out='latency.svg'" bench/latency.gp
set terminal svg size 900,560 dynamic font "sans,12" background rgb "white"
set output out
set title "proxystore-cpp: median latency against object size (one run, same servers)"
set logscale xy
set xlabel "object size (bytes)"
set ylabel "median time per operation (s)"
set format x "10^{%L}"
set format y "10^{%L}"
set key outside right top
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set datafile missing "NaN"
plot for [i=2:*] data using 1:i with linespoints lw 2 pt (i % 7 + 1) title columnheader(i) noenhanced
