set terminal pngcairo size 1200,420 font "sans,10"
set output "seq_rep_words.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.186594203 0
2 0 0
3 0 0
4 0 0
EOD
$d1 << EOD
1 0.802564103 0
2 0.712222222 0
3 0.585748792 0
4 0.462450593 0
EOD
set multiplot layout 1,2 title "seq-rep-n of the generated continuations, on words (mean ± std over seeds)"
set title "default"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d0 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "all runs"
set title "greedy"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d1 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "all runs"
unset multiplot
