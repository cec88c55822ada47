set terminal pngcairo size 1200,420 font "sans,10"
set output "seq_rep_tokens.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.830729167 0.0257799347
2 0.642105263 0.0758278982
3 0.573138298 0.0935600063
4 0.526209677 0.0983676772
EOD
$d1 << EOD
1 0.833007813 0.0124296114
2 0.662171053 0.0134908531
3 0.596077128 0.00987316649
4 0.552587366 0.00974172649
EOD
$d2 << EOD
1 0.794108073 0.00253195788
2 0.496875 0.0239578942
3 0.348570479 0.0199814084
4 0.272849462 0.0147313913
EOD
$d3 << EOD
1 0.776367188 0.00506391575
2 0.497203947 0.0197710778
3 0.395944149 0.0145746743
4 0.334509409 0.0163946129
EOD
$d4 << EOD
1 0.763346354 0.00552427173
2 0.414967105 0.0402399583
3 0.277094415 0.0486606063
4 0.208669355 0.0517974725
EOD
$d5 << EOD
1 0.879557292 0.019334951
2 0.789802632 0.0376813482
3 0.743849734 0.0458397016
4 0.710181452 0.0458573954
EOD
$d6 << EOD
1 0.90234375 0.0147313913
2 0.843092105 0.0223296878
3 0.819481383 0.0282090471
4 0.809811828 0.0332644319
EOD
$d7 << EOD
1 0.7890625 0.00460355977
2 0.392269737 0.0253534997
3 0.20994016 0.0298545749
4 0.13172043 0.0175826283
EOD
$d8 << EOD
1 0.806640625 0.0322249184
2 0.601151316 0.0862949394
3 0.52393617 0.10155257
4 0.470766129 0.113574275
EOD
$d9 << EOD
1 0.758300781 0.00161124592
2 0.346710526 0.00232600915
3 0.180352394 0.00493658325
4 0.104334677 0.0064152833
EOD
$d10 << EOD
1 0.76953125 0.00184142391
2 0.302302632 0.00697802745
3 0.102393617 0.000940301571
4 0.0446908602 0.00237603085
EOD
$d11 << EOD
1 0.768880208 0.00460355977
2 0.296875 0.00721062836
3 0.0974069149 0.00564180942
4 0.0409946237 0.00237603085
EOD
$d12 << EOD
1 0.762858073 0.00253195788
2 0.237006579 0.00255861006
3 0.0488696809 0.00282090471
4 0.0109206989 0.00118801543
EOD
$d13 << EOD
1 0.728190104 0.00552427173
2 0.242763158 0.00883883476
3 0.0733045213 0.00211567853
4 0.0288978495 0.00380164936
EOD
$d14 << EOD
1 0.695638021 0.00552427173
2 0.187006579 0.0146538576
3 0.0364029255 0.0115186942
4 0.00756048387 0.00213842777
EOD
set multiplot layout 1,3 title "seq-rep-n of the generated continuations, on tokens (mean ± std over seeds)"
set title "beam5"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d0 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=mle", $d1 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=mle_more", $d2 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#009E73" title "arm=ul_seq", $d3 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#CC79A7" title "arm=ul_token", $d4 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#E69F00" title "arm=ul_token_seq"
set title "default"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d5 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=mle", $d6 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=mle_more", $d7 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#009E73" title "arm=ul_seq", $d8 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#CC79A7" title "arm=ul_token", $d9 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#E69F00" title "arm=ul_token_seq"
set title "nucleus"
set xlabel "n"
set xtics 1
set xrange [0.5:4.5]
set ylabel "seq-rep-n"
set yrange [0:*]
set key top left font ",8"
plot $d10 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#0072B2" title "arm=mle", $d11 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#D55E00" title "arm=mle_more", $d12 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#009E73" title "arm=ul_seq", $d13 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#CC79A7" title "arm=ul_token", $d14 using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb "#E69F00" title "arm=ul_token_seq"
unset multiplot
