# Server CPU per request, from one bench/run: gnuplot -e "dir='bench/results/latest'" bench/plot.gp
set terminal pngcairo size 900,500 font ",10"
set bmargin 5
set output dir."/cpu-per-request.png"
set title "Server CPU time per request (µs, lower is better; same machine, same run)"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set ylabel "µs of user + system CPU"
set grid ytics
set yrange [0:*]
unset key
plot dir."/cpu.dat" using 2:xtic(1) linecolor rgb "#3a6ea5", \
     "" using 0:2:(sprintf("%.1f", $2)) with labels offset 0,0.8 notitle
