using System.CommandLine;
using OneDiff.Cli.Terminal;
using OneDiff.Data;
using OneDiff.Metrics;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>onediff evaluate</c>: pycocoevalcap's scores without Java or Python, overall and per group,
/// of captions in a {"refs","cands"} file or in COCO annotation and result files, or of a saved
/// model's captions of a dataset split (<c>--model --format --root --split</c>): the papers' table,
/// scored under the ids and change types the papers use.
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
        var compare = new Option<string?>("--compare") { Description = "a second predictions file (COCO results) of the same items: compares it (B) with --predictions (A) by paired bootstrap, B - A with its 95% interval, overall and per group with --groups" };
        var bootstrap = new Option<int>("--bootstrap") { Description = "resamples of a 95% percentile bootstrap interval for every score, overall and per group (1000 is usual; 0: none; with --compare, 0 means 1000)" };
        bootstrap.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--bootstrap must not be negative"); });
        var model = new ModelOptions();
        model.Model.Required = false;
        var dataset = new PairInputs(allowPairsFile: false);
        var prompt = new Option<string?>("--prompt") { Description = "with --model: the task prompt (default: the dataset's)" };
        var groupBy = new Option<string>("--group-by")
        {
            Description = "with --model: score per 'group' (the dataset's change types), per 'task' (each dataset of a mixed DiffCap file, as its own set) or 'none'",
            DefaultValueFactory = _ => "group",
        };
        groupBy.AcceptOnlyFromAmong("group", "task", "none");
        var report = new Option<string?>("--report") { Description = "write one self-contained HTML page: the scores, and every pair with its images, prediction, references and CIDEr, sortable and filterable" };
        var images = new Option<string?>("--images") { Description = "for --report from caption files: a DiffCap JSON-lines file naming each id's two images" };
        var localization = new Option<bool>("--localization") { Description = "with --model on a split whose changes are located (the procedural set): score the change maps by the pointing game and their mass inside the changed objects' boxes, per change type, for each map method and two baselines" };
        var save = new Option<string?>("--save") { Description = "with --model: a folder for predictions.json, references.json and groups.json (COCO files that evaluate --references/--predictions/--groups and pycocoevalcap read)" };
        var command = new Command("evaluate", "Score captions with BLEU-1..4, METEOR, ROUGE-L and CIDEr exactly as pycocoevalcap does, or caption a dataset split with a model and score it")
        {
            input, references, predictions, compare, groups, json, perItem, pretokenized, noMeteor, bootstrap, prompt, groupBy, save, report, images, localization,
        };
        foreach (var o in model.All.Concat(dataset.All)) command.Options.Add(o);
        CliAction.Set(command, (parse, cancel) =>
        {
            string? inputPath = parse.GetValue(input), refsPath = parse.GetValue(references), predsPath = parse.GetValue(predictions);
            bool withModel = parse.GetValue(model.Model) is not null;
            int fileSources = (inputPath is null ? 0 : 1) + (refsPath is null && predsPath is null ? 0 : 1);
            if (withModel ? fileSources > 0 || parse.GetValue(groups) is not null
                          : fileSources != 1 || (inputPath is null && (refsPath is null || predsPath is null)) || dataset.AnyGiven(parse))
                throw new UsageException("give --input FILE, or --references FILE and --predictions FILE, or --model FILE with --format F --root R [--split S]");
            if (!withModel && (parse.GetValue(save) is not null || parse.GetValue(prompt) is not null || parse.GetResult(groupBy) is { Implicit: false }))
                throw new UsageException("--save, --prompt and --group-by go with --model");
            if (parse.GetValue(localization))
            {
                if (!withModel || parse.GetValue(save) is not null || parse.GetValue(report) is not null || parse.GetValue(compare) is not null)
                    throw new UsageException("--localization goes with --model FILE --format F --root R [--split S] (not with --save, --report or --compare)");
                return LocalizationCommand.Run(parse, model, dataset, parse.GetValue(prompt), parse.GetValue(json), cancel);
            }
            var options = new CaptionEvaluatorOptions
            {
                Tokenize = !parse.GetValue(pretokenized), Meteor = !parse.GetValue(noMeteor), BootstrapResamples = parse.GetValue(bootstrap),
            };
            var groupMap = parse.GetValue(groups) is { } g ? CaptionFiles.LoadGroups(g) : null;
            if (parse.GetValue(compare) is { } comparePath)
            {
                if (refsPath is null || predsPath is null || withModel || parse.GetValue(perItem))
                    throw new UsageException("--compare B goes with --references R --predictions A [--groups G] (not with --per-item)");
                var comparison = new CaptionEvaluator(options).Compare(CaptionFiles.LoadCoco(refsPath, predsPath, groupMap), CaptionFiles.LoadCoco(refsPath, comparePath, groupMap));
                Console.WriteLine(parse.GetValue(json) ? CaptionReport.ToJson(comparison) : CaptionReport.ToTable(comparison, predsPath, comparePath));
                return ExitCodes.Success;
            }
            if (withModel && parse.GetValue(images) is not null) throw new UsageException("--images is for caption files; with --model the dataset names the images");
            if (parse.GetValue(images) is not null && parse.GetValue(report) is null) throw new UsageException("--images goes with --report");
            var pairImages = new Dictionary<string, (string Before, string After)>(StringComparer.Ordinal);
            var items = withModel ? CaptionDataset(parse, model, dataset, parse.GetValue(prompt), parse.GetValue(groupBy)!, parse.GetValue(save), cancel, pairImages)
                : inputPath is not null ? CaptionFiles.LoadRefsCands(inputPath, groupMap) : CaptionFiles.LoadCoco(refsPath!, predsPath!, groupMap);
            if (parse.GetValue(images) is { } imagesFile)
                foreach (var r in OneDiff.Data.Formats.DiffCapJsonl.Read(imagesFile, requireCaptions: false)) pairImages[r.Id] = (r.Image1, r.Image2);
            var result = new CaptionEvaluator(options).Evaluate(items);
            Console.WriteLine(parse.GetValue(json) ? CaptionReport.ToJson(result, parse.GetValue(perItem)) : CaptionReport.ToTable(result));
            if (parse.GetValue(report) is { } reportPath)
            {
                ResultsPage.Write(reportPath, result, items, pairImages, $"OneDiff evaluation: {items.Count} pairs");
                int without = items.Count(i => !pairImages.ContainsKey(i.Id));
                Console.Error.WriteLine($"wrote {reportPath}" + (without > 0 ? $" ({without} pair(s) without images: give --images FILE with their ids)" : ""));
            }
            return ExitCodes.Success;
        }, ModelOptions.OutOfMemoryAdvice);
        return command;
    }

    /// <summary>The model's caption of every pair of the split, as items under the dataset's ids and
    /// groups (change types); with <paramref name="saveFolder"/>, also as COCO files.</summary>
    static List<CaptionItem> CaptionDataset(ParseResult parse, ModelOptions model, PairInputs dataset, string? prompt, string groupBy, string? saveFolder, CancellationToken cancel,
        Dictionary<string, (string Before, string After)> images)
    {
        model.Overrides(parse);
        var records = dataset.Read(parse, prompt, Console.Error);
        if (records.FirstOrDefault(r => r.Captions.Count == 0) is { } unreferenced)
            throw new InvalidDataException($"id {unreferenced.Id}: has no reference captions to score against ({unreferenced.Source})");
        using var transformer = model.Load(parse);
        var captions = WorkProgress.Run("pairs", progress => CaptionCommand.CaptionAll(transformer, records, progress, cancel).ToList());
        // Groups only where the records have them (CLEVR-Change's change types, the synthetic set's).
        Func<DiffCapRecord, string?> key = groupBy switch { "task" => r => r.Task, "none" => _ => null, _ => r => r.Group };
        bool grouped = records.Any(r => key(r) is not null);
        var items = records.Select((r, i) => new CaptionItem(r.Id, captions[i].Outcome.Caption, r.Captions, grouped ? key(r) ?? "(none)" : null)).ToList();
        foreach (var r in records) images[r.Id] = (r.Image1, r.Image2);
        if (saveFolder is not null)
        {
            CaptionFiles.WriteCocoResults(Path.Combine(saveFolder, "predictions.json"), items.Select(i => (i.Id, i.Candidate)));
            CaptionFiles.WriteCocoReferences(Path.Combine(saveFolder, "references.json"), items.Select(i => (i.Id, i.References)));
            if (grouped) CaptionFiles.WriteGroups(Path.Combine(saveFolder, "groups.json"), items.Select(i => (i.Id, i.Group!)));
            Console.Error.WriteLine($"wrote predictions.json, references.json{(grouped ? " and groups.json" : "")} to {saveFolder}");
        }
        return items;
    }
}
