using System.CommandLine;
using Microsoft.ML;
using OneDiff.MLNet;

namespace OneDiff.Cli.Commands;

/// <summary><c>onediff caption --model model.zip --before A --after B [--prompt P]</c>: caption your own pair.</summary>
public static class CaptionCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "a model saved by onediff train or mlContext.Model.Save", Required = true };
        var before = new Option<string>("--before") { Description = "the first (before) image", Required = true };
        var after = new Option<string>("--after") { Description = "the second (after) image", Required = true };
        var prompt = new Option<string?>("--prompt") { Description = "the task prompt (default: the model's)" };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N", DefaultValueFactory = _ => "auto" };
        var command = new Command("caption", "Describe what changed between two images") { model, before, after, prompt, device };
        command.SetAction(parse =>
        {
            try
            {
                var ml = new MLContext();
                var transformer = DiffCaptioningCatalog.LoadTransformer(ml, parse.GetValue(model)!);
                Console.WriteLine(transformer.Caption(parse.GetValue(before)!, parse.GetValue(after)!, parse.GetValue(prompt)));
                return 0;
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or OneDiff.Data.DataException or InvalidOperationException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
