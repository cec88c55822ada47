set terminal pngcairo size 1200,420 font "sans,10"
set output "seq_rep_tokens.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.889973958 0
2 0.861184211 0
3 0.833111702 0
4 0.802419355 0
EOD
$d1 << EOD
1 0.886067708 0
2 0.865131579 0
3 0.848404255 0
4 0.83266129 0
EOD
$d2 << EOD
1 0.926432292 0
2 0.911184211 0
3 0.894281915 0
4 0.876344086 0
EOD
$d3 << EOD
1 0.958984375 0
2 0.945394737 0
3 0.926861702 0
4 0.907258065 0
EOD
$d4 << EOD
1 0.603515625 0
2 0.274342105 0
3 0.210106383 0
4 0.192204301 0
EOD
$d5 << EOD
1 0.360677083 0
2 0.115131579 0
3 0.0458776596 0
4 0.0215053763 0
EOD
$d6 << EOD
1 0.162109375 0
2 0.0144736842 0
3 0.00199468085 0
4 0.000672043011 0
EOD
$d7 << EOD
1 0.24609375 0
2 0.0776315789 0
3 0.0551861702 0
4 0.0504032258 0
EOD
set multiplot layout 1,2 title "seq-rep-n of the generated continuations, on tokens (mean ± std over seeds)"
set title "default"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d0 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=bytes", $d1 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=gpt2_bpe", $d2 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#009E73" title "arm=sp_bpe", $d3 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#CC79A7" title "arm=sp_unigram"
set title "nucleus"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d4 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=bytes", $d5 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=gpt2_bpe", $d6 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#009E73" title "arm=sp_bpe", $d7 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#CC79A7" title "arm=sp_unigram"
unset multiplot
