set terminal pngcairo size 1200,1260 font "sans,10"
set output "seq_rep_words.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.760426911 0.0410893084
2 0.674502832 0.0671169085
3 0.609767473 0.0795441557
4 0.557204691 0.0874315941
EOD
$d1 << EOD
1 0.842418726 0.00890809639
2 0.783033129 0.0300973516
3 0.731038763 0.0560588335
4 0.68653382 0.0785733655
EOD
$d2 << EOD
1 0.233230342 0.00636848443
2 0.0158394494 4.5146778e-05
3 0.000671043908 1.88442419e-05
4 0 0
EOD
$d3 << EOD
1 0.214041934 0.00362587183
2 0.0122869998 0.00234849069
3 0.000562034742 0.00014548046
4 0 0
EOD
$d4 << EOD
1 0.270354269 0.0160222859
2 0.0267497339 0.00416990078
3 0.00177123021 0.000533014867
4 0 0
EOD
$d5 << EOD
1 0.336631032 0.0139590085
2 0.047743798 0.00111393935
3 0.00487744061 0.000281820475
4 0.000298242373 0.000421778408
EOD
$d6 << EOD
1 0.425378183 0.0120711524
2 0.124560961 0.00653631895
3 0.0288257666 0.000673642301
4 0.00840162478 0.000932262115
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
