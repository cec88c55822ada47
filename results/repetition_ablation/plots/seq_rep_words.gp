set terminal pngcairo size 1200,1260 font "sans,10"
set output "seq_rep_words.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.668248128 0.0569365055
2 0.521644132 0.0769745402
3 0.396108646 0.0685657437
4 0.274364075 0.0533576807
EOD
$d1 << EOD
1 0.136505573 0.0175613441
2 0.0284755088 0.00439834021
3 0.00767299107 0.00388014324
4 0.00407608696 0.00576445746
EOD
$d2 << EOD
1 0.553840186 0.0529386563
2 0.306539738 0.0733240573
3 0.116064393 0.0591321179
4 0 0
EOD
$d3 << EOD
1 0.131303623 0.0171515859
2 0.026014101 0.00903304128
3 0.00440228175 0.0016660502
4 0.00146059783 0.00206559725
EOD
$d4 << EOD
1 0.00630624858 0.00449896488
2 0 0
3 0 0
4 0 0
EOD
$d5 << EOD
1 0.0424102507 0.017805534
2 0 0
3 0 0
4 0 0
EOD
$d6 << EOD
1 0.10895382 0.00725534931
2 0.00688224851 0.00271802096
3 0 0
4 0 0
EOD
$d7 << EOD
1 0.0234113798 0.00752900744
2 0 0
3 0 0
4 0 0
EOD
$d8 << EOD
1 0.668248128 0.0569365055
2 0.521644132 0.0769745402
3 0.396108646 0.0685657437
4 0.274364075 0.0533576807
EOD
$d9 << EOD
1 0.136505573 0.0175613441
2 0.0284755088 0.00439834021
3 0.00767299107 0.00388014324
4 0.00407608696 0.00576445746
EOD
$d10 << EOD
1 0.52665727 0.0385408673
2 0.342742004 0.0643526494
3 0.247169308 0.0571562046
4 0.165988213 0.0566590364
EOD
$d11 << EOD
1 0.0783669071 0.0154728018
2 0.00525939542 0.00238301918
3 0.000919117647 0.00129982864
4 0 0
EOD
$d12 << EOD
1 0.465962925 0.0279172539
2 0.293930471 0.0310194641
3 0.203110533 0.0049888217
4 0.128433983 0.0067090487
EOD
$d13 << EOD
1 0.0760843926 0.0100141442
2 0.0125747311 0.0110268525
3 0.00347222222 0.00245523188
4 0.000919117647 0.00129982864
EOD
set multiplot layout 3,3 title "seq-rep-n of the generated continuations, on words (mean ± std over seeds)"
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
