set terminal pngcairo size 1200,1260 font "sans,10"
set output "seq_rep_tokens.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.829752604 0.0177237051
2 0.659539474 0.0723388845
3 0.600066489 0.0872129707
4 0.558887769 0.0918335924
EOD
$d1 << EOD
1 0.875325521 0.0223272649
2 0.78125 0.0393095546
3 0.735704787 0.046074777
4 0.702116935 0.0453821892
EOD
$d2 << EOD
1 0.760986328 0.00149615693
2 0.279605263 0.00186080732
3 0.0841090426 0.00517165864
4 0.030577957 0.00142561851
EOD
$d3 << EOD
1 0.743001302 0.00138106793
2 0.250082237 0.00802473156
3 0.0679853723 0.00681718639
4 0.0232694892 0.00368284782
EOD
$d4 << EOD
1 0.756429036 0.00103580095
2 0.276315789 0.00232600915
3 0.0910073138 0.00246829162
4 0.0360383065 0.000831610798
EOD
$d5 << EOD
1 0.747802734 0.000345266983
2 0.254029605 0.00290751144
3 0.0705618351 0.00528919634
4 0.0245295699 0.00451445862
EOD
$d6 << EOD
1 0.77351888 0.00448847078
2 0.333388158 0.00488461921
3 0.144448138 0.00611196021
4 0.0787130376 0.00368284782
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
