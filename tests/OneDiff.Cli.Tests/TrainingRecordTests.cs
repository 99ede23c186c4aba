using System.Globalization;
using System.Text.RegularExpressions;
using OneDiff.Cli.Commands;
using OneDiff.Data.Images;
using OneDiff.MLNet;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

/// <summary>A training run's record: metrics.jsonl (a line per logged step and validation) and training.png.</summary>
public class TrainingRecordTests
{
    [Fact]
    public void TrainingWritesItsRecordAndPlotBesideTheModelAndReportRedrawsIt()
    {
        string dir = TestPaths.NewTempDir("train-record");
        CliRunner.Run(SynthCommand.Create(), "--out", Path.Combine(dir, "data"), "--pairs", "12", "--size", "32", "--seed", "3");
        File.WriteAllText(Path.Combine(dir, "config.yaml"), """
            train:
              - format: synthetic
                root: data
            validation:
              - format: synthetic
                root: data
                split: test
            captions:
              llava: data/captions.json
              images: data
            options:
              Preset: Tiny
              StageOneSteps: 3
              StageTwoSteps: 21
              ValidateEvery: 10
              BatchSize: 4
              MaxNewTokens: 8
              Device: cpu
            output: out/model.zip
            """);
        var (code, output, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"));
        Assert.True(code == 0, err + output);
        string folder = Path.Combine(dir, "out");
        var records = TrainingRecord.Read(Path.Combine(folder, TrainingRecord.FileName));

        // One line per logged step, with the log's loss: stage I steps 1 and 3, stage II 1, 10, 20 and 21.
        var logged = Regex.Matches(output, @"stage (\d) step (\d+)/\d+: loss ([0-9.]+)")
            .Select(m => (int.Parse(m.Groups[1].Value), long.Parse(m.Groups[2].Value), double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture))).ToList();
        var steps = records.Where(r => r.Kind == "step").ToList();
        Assert.Equal([(1, 1L), (1, 3L), (2, 1L), (2, 10L), (2, 20L), (2, 21L)], steps.Select(r => (r.Stage, r.Step)));
        Assert.Equal(logged.Select(l => (l.Item1, l.Item2)), steps.Select(r => (r.Stage, r.Step)));
        Assert.Equal(logged.Select(l => l.Item3), steps.Select(r => Math.Round(r.Loss!.Value, 4)));
        Assert.All(steps, r =>
        {
            Assert.True(r.GradNorm > 0);
            Assert.True(r.SamplesPerSecond > 0);
            Assert.NotEmpty(r.LearningRates!);
        });
        Assert.Equal(["delta_module", "projectors"], steps[0].LearningRates!.Keys.Order());
        Assert.Contains("language_model", steps[^1].LearningRates!.Keys);
        foreach (int stage in new[] { 1, 2 })
        {
            var epochs = steps.Where(r => r.Stage == stage).Select(r => r.Epoch).ToList();
            Assert.Equal(epochs.Order(), epochs);
            Assert.True(epochs[0] > 0);
        }
        // Validation at steps 10 and 20, and at the end.
        var validations = records.Where(r => r.Kind == "validation").ToList();
        Assert.Equal([10L, 20L, 21L], validations.Select(v => v.Step));
        Assert.All(validations, v => Assert.Contains("CIDEr", v.Validation!.Keys));

        string png = Path.Combine(folder, TrainingRecord.PlotName);
        AssertAPlot(png);
        Assert.Contains($"training record: {Path.Combine(folder, TrainingRecord.FileName)}", output);

        // Drawn again from the file alone.
        File.Delete(png);
        var (code2, output2, err2) = CliRunner.Run(ReportCommand.Create(), "training", folder);
        Assert.True(code2 == 0, err2);
        Assert.Contains("from 6 logged step(s) and 3 validation(s)", output2);
        AssertAPlot(png);
        var (code3, _, err3) = CliRunner.Run(ReportCommand.Create(), "training", dir);
        Assert.Equal(1, code3);
        Assert.Contains(Path.Combine(dir, TrainingRecord.FileName), err3);

        // A line that is not a record is named by file and line.
        File.AppendAllText(Path.Combine(folder, TrainingRecord.FileName), "{\"kind\": \"step\", \"loss\": \"high\"}\n");
        var (code4, _, err4) = CliRunner.Run(ReportCommand.Create(), "training", folder);
        Assert.Equal(1, code4);
        Assert.Contains($"{Path.Combine(folder, TrainingRecord.FileName)} line {records.Count + 1}: not a training record", err4);
    }

    /// <summary>A PNG of the plot's size whose pixels are not one colour: curves were drawn.</summary>
    internal static void AssertAPlot(string png)
    {
        Assert.True(File.Exists(png), $"no {png}");
        var image = ImageDecoder.Decode(png);
        Assert.Equal((1000, 560), (image.Width, image.Height));
        var colours = new HashSet<int>();
        for (int i = 0; i < image.Width * image.Height; i += 7)
            colours.Add(image.Pixels[3 * i] << 16 | image.Pixels[3 * i + 1] << 8 | image.Pixels[3 * i + 2]);
        Assert.True(colours.Count > 20, $"{colours.Count} colours: an empty plot");
    }
}
