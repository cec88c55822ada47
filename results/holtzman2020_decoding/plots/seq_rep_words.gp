set terminal pngcairo size 1200,1260 font "sans,10"
set output "seq_rep_words.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.615529436 0.0778825696
2 0.444618984 0.112226014
3 0.285382835 0.139394844
4 0.214551921 0.113039223
EOD
$d1 << EOD
1 0.667263969 0.0496977463
2 0.518478079 0.0655900157
3 0.385321776 0.0680491323
4 0.257892155 0.0612154272
EOD
$d2 << EOD
1 0.0828193528 0.00951963684
2 0.00217870523 0.000537081974
3 0 0
4 0 0
EOD
$d3 << EOD
1 0.0689790751 0.00922147265
2 0.00204881843 0.000792982344
3 0 0
4 0 0
EOD
$d4 << EOD
1 0.0903848473 0.00622911169
2 0.0037060154 0.000656997385
3 0 0
4 0 0
EOD
$d5 << EOD
1 0.0698584026 0.0132492778
2 0.00165395105 0.000123793204
3 0 0
4 0 0
EOD
$d6 << EOD
1 0.158106709 0.00762150679
2 0.0101145731 0.00258282575
3 0 0
4 0 0
EOD
set multiplot layout 3,3 title "seq-rep-n of the generated continuations, on words (mean ± std over seeds)"
set title "beam16"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d0 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "all runs"
set title "default"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d1 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "all runs"
set title "nucleus"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d2 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "all runs"
set title "pure"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d3 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "all runs"
set title "temp_0_9"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d4 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "all runs"
set title "top_k40"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d5 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "all runs"
set title "top_k40_t07"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d6 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "all runs"
unset multiplot
