set terminal pngcairo size 1200,420 font "sans,10"
set output "seq_rep_words.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.7678481 0.0369431775
2 0.66965803 0.0588214274
3 0.588875523 0.0728039638
4 0.517858367 0.0836781754
EOD
$d1 << EOD
1 0.777377185 0.00854645402
2 0.696368569 0.0243291042
3 0.628000654 0.0387105145
4 0.5689146 0.051469284
EOD
$d2 << EOD
1 0.630836962 0.0610055306
2 0.474397635 0.0937185382
3 0.360360877 0.108234609
4 0.279519249 0.117223343
EOD
$d3 << EOD
1 0.689940321 0.0225388749
2 0.582234166 0.0257436328
3 0.510215462 0.0252628657
4 0.44695706 0.0240779624
EOD
$d4 << EOD
1 0.58539771 0.0258841922
2 0.422578416 0.0204018659
3 0.321794978 0.0113730047
4 0.249469019 0.00017642759
EOD
$d5 << EOD
1 0.862246234 0.0121969896
2 0.811299655 0.0103374571
3 0.76222921 0.0120764789
4 0.714168282 0.0147734848
EOD
$d6 << EOD
1 0.85439592 0.0124818577
2 0.801973868 0.0155783938
3 0.750802528 0.0191537274
4 0.70139195 0.0246830916
EOD
$d7 << EOD
1 0.686818576 0.0476847876
2 0.516646589 0.0607466521
3 0.386878962 0.056355285
4 0.295672485 0.0490481252
EOD
$d8 << EOD
1 0.754267655 0.0279335192
2 0.645070542 0.0365913636
3 0.557938669 0.0396064328
4 0.484058424 0.0448596177
EOD
$d9 << EOD
1 0.618826724 0.00824736495
2 0.435450633 0.0326777531
3 0.303567451 0.0460981332
4 0.218117777 0.0482069579
EOD
$d10 << EOD
1 0.248290477 0.0105502972
2 0.015769185 0.000584513918
3 0.000412326389 0.000583117571
4 0 0
EOD
$d11 << EOD
1 0.233882521 0.00194647508
2 0.0144631402 0.0019115869
3 0.000456228687 4.70952406e-06
4 0 0
EOD
$d12 << EOD
1 0.220633847 0.00711276367
2 0.0099368382 0.00124537191
3 0 0
4 0 0
EOD
$d13 << EOD
1 0.171861644 0.0113845111
2 0.00416842273 0.00100826368
3 0.00019778481 0.000279709961
4 0 0
EOD
$d14 << EOD
1 0.164520847 0.0109663362
2 0.00336179734 0.000906591703
3 0 0
4 0 0
EOD
set multiplot layout 1,3 title "seq-rep-n of the generated continuations, on words (mean ± std over seeds)"
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
