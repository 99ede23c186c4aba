using System.CommandLine;
using OneDiff.Data.Readers;

namespace OneDiff.Cli.Commands;

/// <summary>The one dataset split a data command reads: <c>--format --root [--split train]</c>.</summary>
internal sealed class DatasetSplitOptions
{
    public Option<string> Format { get; } = new("--format") { Description = $"dataset format: {string.Join(", ", DatasetReader.Formats.Keys)}", Required = true };
    public Option<string> Root { get; } = new("--root") { Description = "the dataset folder, laid out as its authors ship it", Required = true };
    public Option<string> Split { get; } = new("--split") { Description = "split name", DefaultValueFactory = _ => "train" };

    public IEnumerable<Option> All => [Format, Root, Split];
}
