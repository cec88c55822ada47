set terminal pngcairo size 1200,420 font "sans,10"
set output "seq_rep_tokens.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.790852865 0.0237083328
2 0.724013158 0.0395421555
3 0.662566489 0.0521867372
4 0.606350806 0.0620144052
EOD
$d1 << EOD
1 0.791503906 0.0080562296
2 0.729276316 0.019073275
3 0.677692819 0.0298545749
4 0.630208333 0.039204509
EOD
$d2 << EOD
1 0.688964844 0.0172633492
2 0.561184211 0.040937761
3 0.462932181 0.0594740743
4 0.382392473 0.0788842242
EOD
$d3 << EOD
1 0.710449219 0.0191047731
2 0.615131579 0.0325641281
3 0.547539894 0.0324404042
4 0.490591398 0.0313636072
EOD
$d4 << EOD
1 0.629720052 0.0181840611
2 0.480263158 0.0153516604
3 0.387300532 0.0141045236
4 0.315020161 0.00831610798
EOD
$d5 << EOD
1 0.877278646 0.00966747552
2 0.84375 0.0106996421
3 0.81150266 0.00893286492
4 0.780073925 0.00831610798
EOD
$d6 << EOD
1 0.874348958 0.0142710353
2 0.841282895 0.0155842613
3 0.810505319 0.0164552775
4 0.780073925 0.0163946129
EOD
$d7 << EOD
1 0.71858724 0.0324550964
2 0.577796053 0.0421007656
3 0.464760638 0.0441941738
4 0.373151882 0.036353272
EOD
$d8 << EOD
1 0.754882812 0.0294627825
2 0.664473684 0.0390769537
3 0.586768617 0.0413732691
4 0.522177419 0.04466938
EOD
$d9 << EOD
1 0.642903646 0.0156521032
2 0.476809211 0.0434963711
3 0.356715426 0.0517165864
4 0.263608871 0.0491838386
EOD
$d10 << EOD
1 0.268880208 0.00184142391
2 0.0223684211 0.000930403659
3 0.00199468085 0.000470150785
4 0.000504032258 0.000237603085
EOD
$d11 << EOD
1 0.258789062 0.000460355977
2 0.0220394737 0.00186080732
3 0.00216090426 0.000235075393
4 0.000504032258 0.000237603085
EOD
$d12 << EOD
1 0.247070312 0.00368284782
2 0.0159539474 0.000232600915
3 0.000831117021 0.00117537696
4 0 0
EOD
$d13 << EOD
1 0.198730469 0.00575444972
2 0.00953947368 0
3 0.000831117021 0.000705226178
4 0.000168010753 0.000237603085
EOD
$d14 << EOD
1 0.196777344 0.00989765351
2 0.00789473684 0.00139560549
3 0.000664893617 0.000470150785
4 0.000168010753 0.000237603085
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
