set terminal pngcairo size 1200,420 font "sans,10"
set output "seq_rep_words.png"
set termoption noenhanced
set datafile missing "NaN"
set grid lc rgb "#dddddd"
$d0 << EOD
1 0.055 0
2 0.277777778 0
3 0.391304348 0
4 0.727272727 0
EOD
$d1 << EOD
1 0.12352659 0
2 0.329356725 0
3 0.329308031 0
4 0.49388717 0
EOD
$d2 << EOD
1 0.213820346 0
2 0.292954545 0
3 0.259880006 0
4 0.296717172 0
EOD
$d3 << EOD
1 0.828363723 0
2 0.938054205 0
3 0.932708447 0
4 0.927070099 0
EOD
$d4 << EOD
1 0 0
2 0 0
3 0 0
4 0 0
EOD
$d5 << EOD
1 0.0613038278 0
2 0.0297619048 0
3 0.0117647059 0
4 0.0104166667 0
EOD
$d6 << EOD
1 0.0025 0
2 0 0
3 0 0
4 0 0
EOD
$d7 << EOD
1 0.0379166667 0
2 0.00975499093 0
3 0 0
4 0 0
EOD
set multiplot layout 1,2 title "seq-rep-n of the generated continuations, on words (mean ± std over seeds)"
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
