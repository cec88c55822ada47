set terminal pngcairo size 1200,1260 font "sans,10"
set output "seq_rep_tokens.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.801920573 0.00276213586
2 0.743338816 0.00569872241
3 0.69971742 0.0121063827
4 0.65952621 0.0174638268
EOD
$d1 << EOD
1 0.856445312 0.0138106793
2 0.813322368 0.0276795089
3 0.774268617 0.0427837215
4 0.737987231 0.0588067636
EOD
$d2 << EOD
1 0.256917318 0.00310740285
2 0.0236842105 0.000697802745
3 0.00290890957 0.000352613089
4 0.000420026882 0.000118801543
EOD
$d3 << EOD
1 0.243489583 0.000460355977
2 0.0185032895 0.00174450686
3 0.00191156915 0.000587688482
4 0.000336021505 0
EOD
$d4 << EOD
1 0.290283203 0.0109334545
2 0.0348684211 0.00581502287
3 0.00448803191 0.00117537696
4 0.00100806452 0.00047520617
EOD
$d5 << EOD
1 0.364664714 0.0125447004
2 0.0649671053 0.00534982104
3 0.0105551862 0.000117537696
4 0.00184811828 0.000712809255
EOD
$d6 << EOD
1 0.454752604 0.0126597894
2 0.157894737 0.00395421555
3 0.0528590426 0.000235075393
4 0.0215053763 0.00047520617
EOD
set multiplot layout 3,3 title "seq-rep-n of the generated continuations, on tokens (mean ± std over seeds)"
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
