set terminal pngcairo size 1200,1260 font "sans,10"
set output "seq_rep_tokens.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.879557292 0.019334951
2 0.789802632 0.0376813482
3 0.743849734 0.0458397016
4 0.710181452 0.0458573954
EOD
$d1 << EOD
1 0.7890625 0.00460355977
2 0.392269737 0.0253534997
3 0.20994016 0.0298545749
4 0.13172043 0.0175826283
EOD
$d2 << EOD
1 0.847167969 0.00851658558
2 0.692927632 0.0141886558
3 0.615359043 0.0178657298
4 0.558803763 0.0147313913
EOD
$d3 << EOD
1 0.787597656 0.00621480569
2 0.389802632 0.0251208988
3 0.206449468 0.030559801
4 0.128528226 0.0211466746
EOD
$d4 << EOD
1 0.807291667 0.00322249184
2 0.422203947 0.000232600915
3 0.1953125 0.00258582932
4 0 0
EOD
$d5 << EOD
1 0.783040365 0.00299231385
2 0.329276316 0.0213992842
3 0.105219415 0.0162202021
4 0 0
EOD
$d6 << EOD
1 0.76953125 0.00184142391
2 0.302302632 0.00697802745
3 0.102393617 0.000940301571
4 0.0446908602 0.00237603085
EOD
$d7 << EOD
1 0.762858073 0.00253195788
2 0.237006579 0.00255861006
3 0.0488696809 0.00282090471
4 0.0109206989 0.00118801543
EOD
$d8 << EOD
1 0.879557292 0.019334951
2 0.789802632 0.0376813482
3 0.743849734 0.0458397016
4 0.710181452 0.0458573954
EOD
$d9 << EOD
1 0.7890625 0.00460355977
2 0.392269737 0.0253534997
3 0.20994016 0.0298545749
4 0.13172043 0.0175826283
EOD
$d10 << EOD
1 0.810546875 0.0170331712
2 0.644407895 0.0283773116
3 0.575465426 0.0310299518
4 0.527721774 0.0316012103
EOD
$d11 << EOD
1 0.748697917 0.00276213586
2 0.330098684 0.0244230961
3 0.144115691 0.0336157812
4 0.0719086022 0.0213842777
EOD
$d12 << EOD
1 0.779459635 0.0080562296
2 0.581578947 0.016282064
3 0.506981383 0.0206866346
4 0.462197581 0.0216218807
EOD
$d13 << EOD
1 0.733886719 0.00299231385
2 0.307401316 0.0123278485
3 0.131150266 0.0213918607
4 0.0673723118 0.0211466746
EOD
set multiplot layout 3,3 title "seq-rep-n of the generated continuations, on tokens (mean ± std over seeds)"
set title "default"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d0 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=base", $d1 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=ul"
set title "no_repeat_16gram"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d2 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=base", $d3 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=ul"
set title "no_repeat_4gram"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d4 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=base", $d5 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=ul"
set title "nucleus"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d6 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=base", $d7 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=ul"
set title "rp_1_0"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d8 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=base", $d9 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=ul"
set title "rp_1_2"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d10 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=base", $d11 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=ul"
set title "rp_1_5"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d12 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=base", $d13 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=ul"
unset multiplot
