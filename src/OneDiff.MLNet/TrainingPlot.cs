using ScottPlot;

namespace OneDiff.MLNet;

/// <summary>
/// <c>training.png</c> (ScottPlot): the loss of each stage over the run's optimizer steps (stage II
/// after stage I), the learning rate on the right axis, and validation CIDEr where it ran.
/// </summary>
public static class TrainingPlot
{
    public static void Draw(IReadOnlyList<TrainingRecord> records, string path, int width = 1000, int height = 560)
    {
        var plot = new Plot();
        var steps = records.Where(r => r.Kind == "step" && r.Loss is not null).ToList();
        var stages = steps.Select(r => r.Stage).Distinct().Order().ToList();
        // Stage II continues the x axis where stage I ended.
        var offset = new Dictionary<int, long>();
        long at = 0;
        foreach (int stage in stages)
        {
            offset[stage] = at;
            at += steps.Where(r => r.Stage == stage).Max(r => r.TotalSteps);
        }
        var rateAxis = plot.Axes.AddRightAxis();
        rateAxis.LabelText = "learning rate (largest group)";
        Color[] colours = [Colors.SteelBlue, Colors.DarkOrange];
        foreach (int stage in stages)
        {
            var own = steps.Where(r => r.Stage == stage).OrderBy(r => r.Step).ToList();
            double[] xs = own.Select(r => (double)(r.Step + offset[stage])).ToArray();
            var loss = plot.Add.Scatter(xs, own.Select(r => r.Loss!.Value).ToArray());
            loss.LegendText = $"loss, stage {(stage == 1 ? "I" : "II")}";
            loss.Color = colours[(stage - 1) % colours.Length];
            loss.LineWidth = 2;
            loss.MarkerSize = own.Count < 40 ? 4 : 0;
            var rate = plot.Add.Scatter(xs, own.Select(r => r.LearningRates?.Values.DefaultIfEmpty(0).Max() ?? 0).ToArray());
            rate.LegendText = $"learning rate, stage {(stage == 1 ? "I" : "II")}";
            rate.Color = colours[(stage - 1) % colours.Length].WithAlpha(0.45);
            rate.LinePattern = LinePattern.Dashed;
            rate.MarkerSize = 0;
            rate.Axes.YAxis = rateAxis;
            if (stage != stages[0]) plot.Add.VerticalLine(offset[stage], 1, Colors.Gray, LinePattern.Dotted);
        }
        var validation = records.Where(r => r.Kind == "validation" && r.Validation?.ContainsKey("CIDEr") == true).ToList();
        if (validation.Count > 0)
        {
            var ciderAxis = plot.Axes.AddRightAxis();
            ciderAxis.LabelText = "validation CIDEr";
            var cider = plot.Add.Scatter(validation.Select(r => (double)(r.Step + offset.GetValueOrDefault(r.Stage))).ToArray(), validation.Select(r => r.Validation!["CIDEr"]).ToArray());
            cider.LegendText = "validation CIDEr";
            cider.Color = Colors.ForestGreen;
            cider.MarkerSize = 7;
            cider.Axes.YAxis = ciderAxis;
        }
        plot.Title(steps.Count == 0 ? "no steps recorded yet" : $"training: {steps.Count} logged steps over {at} optimizer steps");
        plot.XLabel("optimizer step (stage II after stage I)");
        plot.YLabel("loss");
        plot.ShowLegend(Alignment.UpperRight);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plot.SavePng(path, width, height);
    }
}
