using System.CommandLine;
using OneDiff.Metrics;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>onediff evaluate</c>: pycocoevalcap's scores without Java or Python, from a
/// {"refs","cands"} file or from COCO annotation and result files, overall and per group.
/// </summary>
public static class EvaluateCommand
{
    public static Command Create()
    {
        var input = new Option<string?>("--input") { Description = "a JSON file {\"refs\": {id: [caption, ...]}, \"cands\": {id: caption}}" };
        var references = new Option<string?>("--references") { Description = "a COCO caption annotation file ({\"annotations\": [{\"image_id\", \"caption\"}]})" };
        var predictions = new Option<string?>("--predictions") { Description = "a COCO caption result file ([{\"image_id\", \"caption\"}])" };
        var groups = new Option<string?>("--groups") { Description = "a JSON object mapping each id to a group (change type, dataset) for per-group scores" };
        var json = new Option<bool>("--json") { Description = "print one JSON object with pycocoevalcap's keys plus METEOR_modules" };
        var perItem = new Option<bool>("--per-item") { Description = "with --json, include every item's scores" };
        var pretokenized = new Option<bool>("--pretokenized") { Description = "score the captions as they are, without PTB tokenisation" };
        var noMeteor = new Option<bool>("--no-meteor") { Description = "skip METEOR" };
        var command = new Command("evaluate", "Score captions with BLEU-1..4, METEOR, ROUGE-L and CIDEr exactly as pycocoevalcap does")
        {
            input, references, predictions, groups, json, perItem, pretokenized, noMeteor,
        };
        command.SetAction(parse =>
        {
            string? inputPath = parse.GetValue(input), refsPath = parse.GetValue(references), predsPath = parse.GetValue(predictions);
            if ((inputPath is null) == (refsPath is null && predsPath is null) || (inputPath is null && (refsPath is null || predsPath is null)))
            {
                Console.Error.WriteLine("error: give either --input FILE, or both --references FILE and --predictions FILE");
                return 2;
            }
            try
            {
                var groupMap = parse.GetValue(groups) is { } g ? CaptionFiles.LoadGroups(g) : null;
                var items = inputPath is not null ? CaptionFiles.LoadRefsCands(inputPath, groupMap) : CaptionFiles.LoadCoco(refsPath!, predsPath!, groupMap);
                var evaluator = new CaptionEvaluator(new CaptionEvaluatorOptions { Tokenize = !parse.GetValue(pretokenized), Meteor = !parse.GetValue(noMeteor) });
                var result = evaluator.Evaluate(items);
                Console.WriteLine(parse.GetValue(json) ? CaptionReport.ToJson(result, parse.GetValue(perItem)) : CaptionReport.ToTable(result));
                return 0;
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or ArgumentException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
