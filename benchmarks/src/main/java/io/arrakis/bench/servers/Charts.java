package io.arrakis.bench.servers;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import java.util.List;
import java.util.Locale;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYErrorRenderer;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

/**
 * The benchmark's PNG plots, drawn by JFreeChart: latency against percentile (the x axis spaced
 * by "nines", as HdrHistogram's plots are) and throughput against connections with the
 * repetitions' spread as error bars. Stateless; safe from any thread (headless AWT).
 */
final class Charts {
    private static final int WIDTH = 1000;
    private static final int HEIGHT = 620;

    private Charts() {}

    /** One line of a latency plot: its label and {percentile, microseconds} points. */
    record Curve(String label, double[][] points) {}

    /** One line of a throughput plot: its label and a point per connection count. */
    record Throughput(String label, List<Point> points) {
        /** Connections, and the median and spread of operations per second over repetitions. */
        record Point(int connections, Measurement.Spread opsPerSecond) {}
    }

    static {
        System.setProperty("java.awt.headless", "true");
    }

    /**
     * Writes a plot of each curve's latency against percentile to {@code file}; the x axis is
     * 1/(1 − p) on a log scale, labelled as percentiles (90%, 99%, 99.9%...), the maximum left out.
     */
    static void latency(Path file, String title, List<Curve> curves) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (Curve curve : curves) {
            XYSeries series = new XYSeries(curve.label(), false, true);
            for (double[] point : curve.points()) {
                if (point[0] < 100 && point[1] > 0) {
                    series.add(1 / (1 - point[0] / 100), point[1]);
                }
            }
            if (!series.isEmpty()) {
                data.addSeries(series);
            }
        }
        LogAxis percentile = new LogAxis("percentile");
        percentile.setBase(10);
        percentile.setSmallestValue(1);
        percentile.setNumberFormatOverride(new NinesFormat());
        // One label per nine (90%, 99%, 99.9%...): the automatic units fall between them.
        percentile.setAutoTickUnitSelection(false);
        percentile.setTickUnit(new NumberTickUnit(1));
        LogAxis micros = new LogAxis("latency (µs)");
        micros.setBase(10);
        micros.setSmallestValue(0.1);
        micros.setNumberFormatOverride(new DecimalFormat("#,##0.#"));
        double lowest = Double.MAX_VALUE;
        double highest = 0;
        for (int i = 0; i < data.getSeriesCount(); i++) {
            lowest = Math.min(lowest, data.getSeries(i).getMinY());
            highest = Math.max(highest, data.getSeries(i).getMaxY());
        }
        if (highest >= 100 * lowest) {
            // Over two decades or more, one label per decade reads best; closer, the automatic units.
            micros.setAutoTickUnitSelection(false);
            micros.setTickUnit(new NumberTickUnit(1));
        }
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            renderer.setSeriesStroke(i, new BasicStroke(2f));
        }
        XYPlot plot = new XYPlot(data, percentile, micros, renderer);
        write(file, title, plot);
    }

    /**
     * Writes a plot of operations per second against connections to {@code file}: a line per
     * series through the medians, bars from the slowest to the fastest repetition.
     */
    static void throughput(Path file, String title, List<Throughput> lines) throws IOException {
        YIntervalSeriesCollection data = new YIntervalSeriesCollection();
        for (Throughput line : lines) {
            YIntervalSeries series = new YIntervalSeries(line.label());
            for (Throughput.Point point : line.points()) {
                Measurement.Spread s = point.opsPerSecond();
                series.add(point.connections(), s.median(), s.min(), s.max());
            }
            data.addSeries(series);
        }
        LogAxis connections = new LogAxis("connections");
        connections.setBase(10);
        connections.setSmallestValue(0.7);
        connections.setNumberFormatOverride(new DecimalFormat("0"));
        connections.setAutoTickUnitSelection(false);
        connections.setTickUnit(new NumberTickUnit(1));
        connections.setMinorTickMarksVisible(false);
        NumberAxis operations = new NumberAxis("operations per second (median; bars: min–max)");
        operations.setNumberFormatOverride(new DecimalFormat("#,##0"));
        XYErrorRenderer renderer = new XYErrorRenderer();
        renderer.setDrawXError(false);
        renderer.setDrawYError(true);
        renderer.setDefaultLinesVisible(true);
        renderer.setDefaultShapesVisible(true);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            renderer.setSeriesStroke(i, new BasicStroke(2f));
        }
        XYPlot plot = new XYPlot(data, connections, operations, renderer);
        write(file, title, plot);
    }

    private static void write(Path file, String title, XYPlot plot) throws IOException {
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT.deriveFont(15f), plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(file.toFile(), chart, WIDTH, HEIGHT);
    }

    /** Labels x = 1/(1 − p) with p: 1 → 0%, 10 → 90%, 100 → 99%, 1000 → 99.9%. */
    private static final class NinesFormat extends NumberFormat {
        @Override
        public StringBuffer format(double value, StringBuffer to, FieldPosition position) {
            double percentile = 100 * (1 - 1 / value);
            String text = String.format(Locale.ROOT, "%.5f", percentile).replaceAll("0+$", "").replaceAll("\\.$", "");
            return to.append(text).append('%');
        }

        @Override
        public StringBuffer format(long value, StringBuffer to, FieldPosition position) {
            return format((double) value, to, position);
        }

        @Override
        public Number parse(String source, ParsePosition position) {
            throw new UnsupportedOperationException("axis labels are only written");
        }
    }
}
