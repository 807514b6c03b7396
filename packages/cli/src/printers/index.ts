/** The printer for a `-w/--write-out` value; an unknown format fails as etcdctl does (`unsupported output format`, exit 4). */
import { CliError, ExitCode } from '../errors.js';
import { FieldsPrinter } from './fields.js';
import { JsonPrinter } from './json.js';
import type { Printer, PrinterOptions } from './printer.js';
import { ProtobufPrinter } from './protobuf.js';
import { SimplePrinter } from './simple.js';
import { TablePrinter } from './table.js';

export function newPrinter(format: string, options: PrinterOptions): Printer {
  switch (format) {
    case 'simple':
      return new SimplePrinter(options);
    case 'json':
      return new JsonPrinter(options);
    case 'fields':
      return new FieldsPrinter(options);
    case 'table':
      return new TablePrinter(options);
    case 'protobuf':
      return new ProtobufPrinter(options);
    default:
      throw new CliError(ExitCode.BadFeature, 'unsupported output format');
  }
}

export { SimplePrinter } from './simple.js';
export type { Printer, PrinterOptions, EpHealth, EpStatus, EpHashKV, DbStatus, QueueStatus, QueueEntry } from './printer.js';
