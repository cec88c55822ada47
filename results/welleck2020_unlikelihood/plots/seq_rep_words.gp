set terminal pngcairo size 1200,420 font "sans,10"
set output "seq_rep_words.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.570725353 0.0899424942
2 0.378615836 0.116805901
3 0.217846808 0.113352621
4 0.150092165 0.0838051429
EOD
$d1 << EOD
1 0.580195107 0.0112331336
2 0.387433215 0.0259823553
3 0.218567059 0.0374397071
4 0.158810109 0.0303698887
EOD
$d2 << EOD
1 0.301570669 0.0431875783
2 0.136891522 0.0106615155
3 0.0698629284 0.0130040108
4 0.043398945 0.0191822718
EOD
$d3 << EOD
1 0.396442089 0.0266946273
2 0.175208462 0.0288989126
3 0.0539363498 0.0272975417
4 0.0247879579 0.020840966
EOD
$d4 << EOD
1 0.154595408 0.111984445
2 0.0313848442 0.0292829159
3 0.0088184232 0.00706962356
4 0.00208333333 0.00294627825
EOD
$d5 << EOD
1 0.668248128 0.0569365055
2 0.521644132 0.0769745402
3 0.396108646 0.0685657437
4 0.274364075 0.0533576807
EOD
$d6 << EOD
1 0.76612907 0.038316174
2 0.722318937 0.0649973552
3 0.681376619 0.083812017
4 0.641634417 0.0982837683
EOD
$d7 << EOD
1 0.136505573 0.0175613441
2 0.0284755088 0.00439834021
3 0.00767299107 0.00388014324
4 0.00407608696 0.00576445746
EOD
$d8 << EOD
1 0.462770319 0.0816202372
2 0.282465809 0.137227412
3 0.198496167 0.163282254
4 0.156561949 0.164576264
EOD
$d9 << EOD
1 0.155150951 0.0188491051
2 0.0232210908 0.006378567
3 0.00310019841 0.00438434264
4 0.00120192308 0.00169977592
EOD
$d10 << EOD
1 0.10895382 0.00725534931
2 0.00688224851 0.00271802096
3 0 0
4 0 0
EOD
$d11 << EOD
1 0.103873303 0.00602805246
2 0.0048825642 0.000331484396
3 0 0
4 0 0
EOD
$d12 << EOD
1 0.0234113798 0.00752900744
2 0 0
3 0 0
4 0 0
EOD
$d13 << EOD
1 0.0739334072 0.000198739769
2 0.00240065125 0.000939801676
3 0 0
4 0 0
EOD
$d14 << EOD
1 0.0476927876 0.0134597025
2 0.00078125 0.00110485435
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
