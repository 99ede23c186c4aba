using System.CommandLine;
using OneDiff.MLNet;

namespace OneDiff.Cli.Commands;

/// <summary><c>onediff report training FOLDER</c>: draws training.png again from the folder's metrics.jsonl.</summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var folder = new Argument<string>("folder") { Description = "a training run's folder (its checkpoints', or its saved model's): where metrics.jsonl is" };
        var output = new Option<string?>("--out") { Description = "where to draw the plot (default: training.png in the folder)" };
        var training = new Command("training", "Draw a training run's loss, learning rate and validation CIDEr (training.png) from its metrics.jsonl") { folder, output };
        CliAction.Set(training, (parse, _) =>
        {
            string dir = parse.GetValue(folder)!;
            string file = Path.Combine(dir, TrainingRecord.FileName);
            var records = TrainingRecord.Read(file);
            string png = parse.GetValue(output) ?? Path.Combine(dir, TrainingRecord.PlotName);
            TrainingPlot.Draw(records, png);
            int steps = records.Count(r => r.Kind == "step"), validations = records.Count(r => r.Kind == "validation");
            Console.WriteLine($"drew {png} from {steps} logged step(s) and {validations} validation(s) in {file}");
            return ExitCodes.Success;
        });
        return new Command("report", "Reports of training runs") { training };
    }
}
